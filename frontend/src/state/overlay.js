import { createStore } from './store.js';

/**
 * The anomaly overlay's display state (next step of the viewer: the fused / global / local maps
 * from the detection app, loaded as local volumes over the CT). Kept here so the controls, the
 * legend and the viewport code share one source of truth:
 *
 *   kind       'fused' | 'global' | 'local'  (fused by default)
 *   colormap   a Cornerstone colormap name
 *   opacity    0..1 as the user sees it (the renderer corrects Cornerstone's non-linear blend)
 *   threshold  map value below which the overlay is transparent, or null for the map minimum
 *   available  false until a detection result exists for this study
 */
export function createOverlayState() {
  return createStore({
    available: false,
    kind: 'fused',
    colormap: 'hot',
    opacity: 0.5,
    threshold: null,
  });
}
