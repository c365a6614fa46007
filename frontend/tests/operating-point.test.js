import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readOperatingPoint } from '../src/read/readForm.js';
import { currentPoint, nearestIndex, presetLabel, rocPoints } from '../src/ui/operatingPoint.js';
import { commandFor, shortcutsFor } from '../src/ui/shortcuts.js';

// As webapp/detection/points.py hands them to the page (config.operatingPoints).
const POINTS = [
  { name: 'high_sensitivity', label: 'High sensitivity', short: 'High sens.', key: '1' },
  { name: 'balanced', label: 'Balanced', short: 'Balanced', key: '2' },
  { name: 'high_specificity', label: 'High specificity', short: 'High spec.', key: '3' },
];
const CALIBRATION = {
  roc: { fused: { thresholds: [null, 3, 2, 1], tpr: [0, 0.5, 0.9, 1], fpr: [0, 0, 0.2, 1] } },
  operating_points: { fused: { balanced: { threshold: 2, sensitivity: 0.9, specificity: 0.8 } } },
};

test('the ROC becomes points without the infinite first threshold, and the nearest is found', () => {
  const points = rocPoints(CALIBRATION);
  assert.deepEqual(
    points.map((p) => p.threshold),
    [3, 2, 1],
  );
  assert.ok(Math.abs(points[1].specificity - 0.8) < 1e-12);
  assert.equal(nearestIndex(points, 2.1), 1);
  assert.equal(nearestIndex(points, null), 0);
  assert.deepEqual(rocPoints({}), []);
});

test('the point in use is the preset, else the slider position', () => {
  const points = rocPoints(CALIBRATION);
  const base = { calibration: CALIBRATION, points, index: 2 };
  assert.deepEqual(currentPoint({ ...base, preset: 'balanced' }), {
    threshold: 2,
    sensitivity: 0.9,
    specificity: 0.8,
  });
  assert.equal(currentPoint({ ...base, preset: null }).threshold, 1);
  assert.equal(currentPoint({ ...base, calibration: null, preset: null }), null);
  assert.equal(presetLabel(POINTS, 'high_specificity'), 'High specificity');
});

test('the read records a named point, a custom threshold, or the default when uncalibrated', () => {
  const points = rocPoints(CALIBRATION);
  assert.deepEqual(readOperatingPoint({ status: 'none' }, 'balanced'), { operating_point: 'balanced' });
  assert.deepEqual(readOperatingPoint({ status: 'ready', preset: 'high_sensitivity', points, index: 0 }), {
    operating_point: 'high_sensitivity',
  });
  assert.deepEqual(readOperatingPoint({ status: 'ready', preset: null, points, index: 0 }), {
    operating_point: 'custom',
    threshold: 3,
  });
});

test("the operating points' keys come from the configuration, and typing in a field is left alone", () => {
  assert.deepEqual(commandFor({ key: '3' }, POINTS), ['operatingPoint', 'high_specificity']);
  assert.equal(commandFor({ key: '3' }, []), null);
  assert.deepEqual(commandFor({ key: 'o' }), ['toggleOverlay']);
  assert.deepEqual(commandFor({ key: 'Enter', ctrlKey: true }), ['submit']);
  const inField = { key: 'o', target: { closest: () => ({}) } };
  assert.equal(commandFor(inField), null);
  const rows = shortcutsFor(POINTS);
  const row = rows.find((r) => r.keys.join() === '1,2,3');
  assert.match(row.label, /high sensitivity, balanced, high specificity/);
  assert.ok(rows.indexOf(row) === rows.findIndex((r) => r.label.startsWith('Display threshold')) + 1);
});
