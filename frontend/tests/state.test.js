// Unit tests of the viewer's pure state and sampling functions (node's own test runner:
// `node --test frontend/tests/`; scripts/test.sh runs them).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createStore } from '../src/state/store.js';
import { defaultThreshold, nextKind, steppedThreshold } from '../src/state/overlay.js';
import { matchPreset, voiRange, windowLevel } from '../src/state/presets.js';

test('a store notifies only on a real change and never lets a subscriber mutate its state', () => {
  const store = createStore({ a: 1, b: 2 });
  const seen = [];
  store.subscribe((state, previous) => seen.push([previous?.a ?? null, state.a]));
  assert.deepEqual(seen, [[null, 1]]); // a new subscriber renders the state at once
  store.set({ a: 1 });
  assert.deepEqual(seen, [[null, 1]]);
  store.set({ a: 3 });
  assert.deepEqual(seen, [[null, 1], [1, 3]]);
  assert.throws(() => {
    'use strict';
    store.get().a = 9;
  }, TypeError);
  assert.equal(store.get().b, 2);
});

test('the overlay cycles its maps and steps its threshold inside the range', () => {
  assert.equal(nextKind('fused'), 'global');
  assert.equal(nextKind('local'), 'fused');
  const range = { min: 0, max: 1 };
  assert.equal(defaultThreshold(range), 0.5);
  assert.equal(defaultThreshold(null), null);
  assert.equal(steppedThreshold({ range, threshold: null }, 5), 0.6);
  assert.equal(steppedThreshold({ range, threshold: 0.99 }, 5), 1); // clamped
  assert.equal(steppedThreshold({ range, threshold: 0.01 }, -5), 0);
  assert.equal(steppedThreshold({ range: null, threshold: 0.3 }, 1), 0.3);
});

test('window presets round-trip between window/level and the VOI range', () => {
  const lung = { window: 1500, level: -600 };
  assert.deepEqual(voiRange(lung), { lower: -1350, upper: 150 });
  assert.deepEqual(windowLevel(voiRange(lung)), lung);
  assert.equal(matchPreset({ window: 1500.4, level: -600.3 }), 'lung');
  assert.equal(matchPreset({ window: 400, level: 40 }), 'mediastinum');
  assert.equal(matchPreset({ window: 1000, level: 0 }), null);
});

test('slab and layout cycle through their choices and refuse unknown ones', async () => {
  const { createViewerState, nextOf, LAYOUTS, SLABS_MM } = await import('../src/state/viewerState.js');
  const viewer = createViewerState();
  viewer.actions.cycleSlab();
  assert.equal(viewer.get().slabMm, SLABS_MM[1]);
  viewer.actions.chooseSlab(7);
  assert.equal(viewer.get().slabMm, 0);
  viewer.actions.cycleLayout('coronal');
  assert.deepEqual([viewer.get().layout, viewer.get().single], ['1x3', 'coronal']);
  viewer.actions.chooseLayout('4x4');
  assert.equal(viewer.get().layout, '1+2');
  assert.equal(nextOf(LAYOUTS, '1x1'), '2x2');
  assert.equal(nextOf(LAYOUTS, '2x2'), '1+2');
  viewer.actions.toggleLinkZoom();
  assert.equal(viewer.get().linkZoom, true);
});
