/**
 * Milestones of opening a study, in ms since navigation start (performance.now()):
 * config (bundle running), cornerstone (initialised), series (QIDO-RS), metadata (WADO-RS),
 * views (viewports and tools set up), firstFrame, firstImage (the axial slice on screen has its
 * pixels and was drawn), volumeLoaded. Exposed for the browser tests' benchmark and for people profiling.
 */
export const timings = {};

export function mark(name) {
  if (timings[name] === undefined) {
    timings[name] = Math.round(performance.now());
  }
  return timings[name];
}
