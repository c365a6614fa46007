import { createStore } from './store.js';

/**
 * The anomaly overlay's display state (the fused / global / local maps from the detection app,
 * drawn over the CT by viewports/overlayLayer.js). One source of truth for the controls, the legend and the
 * views:
 *
 *   status     'loading' | 'ready' | 'processing' (detection queued or running) | 'failed'
 *              (the detection job failed) | 'none' (no result, no job) | 'error' (could not load)
 *   message    what to tell the reader when status is not 'ready'
 *   progress   the detection job's progress 0..1 while 'processing', else null
 *   visible    false while the reader has switched the overlay off (key O)
 *   kind       'fused' | 'global' | 'local'  (fused by default)
 *   colormap   a Cornerstone colormap name
 *   opacity    0..1, the share of the overlay's colour seen on screen (drawn with linear alpha)
 *   threshold  map value below which the overlay is transparent, or null for the default
 *   range      { min, max } of the map shown, or null
 *   available  true once a map is on screen
 *   regionLevel  the local map's level at which the operating point in use flags the study
 *              (outlined in the views), or null when the model has none
 */
export function createOverlayState() {
  const store = createStore({
    status: 'loading',
    message: '',
    progress: null,
    visible: true,
    available: false,
    kind: 'fused',
    colormap: 'inferno',
    opacity: 0.5,
    threshold: null,
    range: null,
    regionLevel: null,
  });
  return store;
}

/** The next map in the cycle fused -> global -> local (key S). */
export function nextKind(kind) {
  const kinds = ['fused', 'global', 'local'];
  return kinds[(kinds.indexOf(kind) + 1) % kinds.length];
}

/** The threshold `steps` fiftieths of the range up (or down), kept inside the range. */
export function steppedThreshold(state, steps) {
  const { range, threshold } = state;
  if (!range) {
    return threshold;
  }
  const span = range.max - range.min;
  const current = threshold ?? defaultThreshold(range);
  return Math.min(range.max, Math.max(range.min, current + (steps * span) / 50));
}

/** The default display threshold: half way up the map's range. */
export function defaultThreshold(range) {
  return range ? range.min + 0.5 * (range.max - range.min) : null;
}
