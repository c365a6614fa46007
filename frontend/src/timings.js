/**
 * Milestones of opening a study, in ms since navigation start (performance.now()):
 * config (bundle running), series (QIDO-RS answer), metadata (WADO-RS answer), firstPreview (the
 * middle axial slice drawn from one frame, viewports/preview.js), cornerstone (initialised),
 * views (viewports and tools set up), firstFrame, firstImage (the axial slice on screen has its
 * pixels and was drawn by Cornerstone), volumeLoaded. Arrays: overlayUpdatesMs (threshold change
 * to the frame showing it in all views), overlayApplyMs (of which drawing the overlay canvases). Exposed for the browser
 * tests' benchmark and for people profiling.
 */
export const timings = {};

export function mark(name) {
  if (timings[name] === undefined) {
    timings[name] = Math.round(performance.now());
  }
  return timings[name];
}
