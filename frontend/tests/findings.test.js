// The findings list and the overlay's pixels (issue 14: findings a reader can place, the
// operating point visible in the image, an overlay that never darkens the CT).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  describeFindings,
  isFlagged,
  openingFinding,
  regionLevel,
  steppedSelection,
  strengthText,
  zoneText,
} from '../src/state/findings.js';
import { DIMMED, LUT_START, RAMP, colourSamples, outlinePixels } from '../src/viewports/overlayPixels.js';

const result = {
  fused_score: 2.0,
  peaks: [
    { center_lps_mm: [1, 2, 3], value: 1.9, score: 0.4, size_mm: 6, zone: { lung: 'left', level: 'lower', depth: 'central' } },
    { center_lps_mm: [4, 5, 6], value: 1.5, score: 2.0, size_mm: 14, zone: { lung: 'right', level: 'upper', depth: 'peripheral' } },
  ],
  interpretation: {
    n_calibration_normals: 20,
    findings: [
      { normal_percentile: 40, flagged_at: [] },
      { normal_percentile: 100, flagged_at: ['balanced'] },
    ],
  },
};

test('findings keep the detector order (strongest peak first), with their meaning attached', () => {
  const items = describeFindings(result);
  assert.deepEqual(items.map((f) => [f.n, f.score, f.percentile]), [[1, 0.4, 40], [2, 2.0, 100]]);
  assert.equal(zoneText(items[1]), 'Right lung, upper zone, peripheral');
  assert.equal(strengthText(items[1], 20), 'stronger than 100% of the 20 calibration normals');
  assert.equal(isFlagged(items[0], 0.5), false);
  assert.equal(isFlagged(items[1], 0.5), true);
});

test('results without finding scores keep the detector order and say what is missing', () => {
  const old = { peaks: [{ center_lps_mm: [0, 0, 0], value: 1.1 }, { center_lps_mm: [1, 1, 1], value: 1.4 }] };
  const items = describeFindings(old);
  assert.deepEqual(items.map((f) => f.value), [1.1, 1.4]);
  assert.equal(zoneText(items[0]), 'Lung');
  assert.equal(isFlagged(items[0], 0.5), null);
  assert.match(strengthText(items[0], 0), /no finding score/);
});

test('the viewer opens at the strongest finding of a positive study only, and J / K wrap round', () => {
  const items = describeFindings(result);
  assert.equal(openingFinding(items, 2.0, 1.5), 0);
  assert.equal(openingFinding(items, 1.0, 1.5), null);
  assert.equal(openingFinding(items, 2.0, null), null);
  assert.equal(steppedSelection(null, 3, 1), 0);
  assert.equal(steppedSelection(null, 3, -1), 2);
  assert.equal(steppedSelection(2, 3, 1), 0);
  assert.equal(steppedSelection(0, 3, -1), 2);
  assert.equal(steppedSelection(null, 0, 1), null);
});

const grey = new Uint8ClampedArray(256 * 3).map((_, i) => Math.floor(i / 3)); // LUT n -> (n, n, n)

test('the overlay fades in above the display threshold and never starts at the dark end', () => {
  const px = colourSamples(new Float32Array([0.1, 0.5, 0.5 + RAMP / 4, 1.0, NaN]), grey, 0.5, 1.0);
  assert.equal(px[3], 0); // below the threshold: transparent
  assert.equal(px[7], 0); // at it: transparent, not black
  assert.ok(px[11] > 0 && px[11] < 255); // fading in
  assert.equal(px[15], 255); // above the ramp: opaque
  assert.equal(px[19], 0); // outside the map
  assert.ok(px[4] >= Math.round(LUT_START * 255) - 1); // the first colour is a quarter up the map
});

test('outside the operating point region the overlay is dimmed, and the region is outlined', () => {
  const samples = new Float32Array(9).fill(1.0);
  const region = new Float32Array([0, 0, 0, 0, 0.9, 0.9, 0, 0.9, 0.9]); // 3 x 3, a 2 x 2 block
  const px = colourSamples(samples, grey, 0, 1, undefined, region, 0.5);
  assert.equal(px[4 * 4 + 3], 255);
  assert.equal(px[0 * 4 + 3], Math.round(255 * DIMMED));
  const edges = outlinePixels(region, 0.5, 3, 3, [1, 2, 3]);
  const alpha = [...Array(9).keys()].map((n) => edges[n * 4 + 3]);
  assert.deepEqual(alpha, [0, 0, 0, 0, 255, 255, 0, 255, 255]); // every block sample has an outside neighbour
  const solid = outlinePixels(new Float32Array(25).fill(1), 0.5, 5, 5, [1, 2, 3]);
  assert.equal(solid[12 * 4 + 3], 0); // the middle of a large region is not outline
});

test("an operating point's region level comes from the line, and none when the global score suffices", () => {
  const line = { intercept: -0.3, slope: 1.0 };
  assert.ok(Math.abs(regionLevel(line, 0.7) - 0.4) < 1e-9);
  assert.equal(regionLevel(line, 0.2), null); // level -0.1: positive on the global score alone
  assert.equal(regionLevel(null, 0.7), null);
  assert.equal(regionLevel(line, undefined), null);
});
