/**
 * The overlay's pixels from a view's map samples (pure functions; viewports/overlayLayer.js
 * draws them).
 *
 * Colour and opacity ramp: above the display threshold the colour runs through the colormap
 * from its lower quarter (inferno's and jet's first quarter is near black or dark blue, which
 * at half opacity reads as missing lung) and the pixel's own opacity rises from 0 at the
 * threshold to full a fifth of the way up, so the overlay never darkens the CT around the
 * threshold: it fades in.
 *
 * The operating point's region: where a second map (the local map) is at or above the point's
 * level, the overlay is drawn at full strength and outlined; elsewhere it is dimmed.
 */
export const LUT_START = 0.25; // share of the colormap skipped at its dark end
export const RAMP = 0.2; // share of the range above the threshold over which opacity rises
export const DIMMED = 0.3; // opacity share outside the operating point's region

/**
 * RGBA pixels for `samples`: transparent below `lower` (and outside the map), else coloured
 * over lower..upper with the opacity ramp; `region` (samples of the region's map, same plan)
 * and `level` dim what lies outside the region.
 */
export function colourSamples(
  samples,
  lut,
  lower,
  upper,
  pixels = new Uint8ClampedArray(samples.length * 4),
  region = null,
  level = null,
) {
  const span = Math.max(upper - lower, 1e-12);
  const size = lut.length / 3;
  const first = Math.round(LUT_START * (size - 1));
  const useRegion = region !== null && level !== null;
  for (let n = 0; n < samples.length; n += 1) {
    const v = samples[n];
    const o = n * 4;
    if (!(v >= lower)) {
      pixels[o + 3] = 0; // NaN fails the test too
      continue;
    }
    const t = Math.min(1, (v - lower) / span);
    const c = (first + Math.round(t * (size - 1 - first))) * 3;
    pixels[o] = lut[c];
    pixels[o + 1] = lut[c + 1];
    pixels[o + 2] = lut[c + 2];
    let alpha = Math.min(1, t / RAMP);
    if (useRegion && !(region[n] >= level)) {
      alpha *= DIMMED;
    }
    pixels[o + 3] = Math.round(255 * alpha);
  }
  return pixels;
}

/**
 * The outline of the region where `region` >= `level` on a columns x rows sample grid: opaque
 * `colour` on region samples with a neighbour (4-connected) outside it, transparent elsewhere.
 */
export function outlinePixels(region, level, columns, rows, colour, pixels = new Uint8ClampedArray(columns * rows * 4)) {
  const inside = (r, c) => r >= 0 && c >= 0 && r < rows && c < columns && region[r * columns + c] >= level;
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < columns; c += 1) {
      const o = (r * columns + c) * 4;
      const edge = inside(r, c) && !(inside(r - 1, c) && inside(r + 1, c) && inside(r, c - 1) && inside(r, c + 1));
      pixels[o] = colour[0];
      pixels[o + 1] = colour[1];
      pixels[o + 2] = colour[2];
      pixels[o + 3] = edge ? 255 : 0;
    }
  }
  return pixels;
}
