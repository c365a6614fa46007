/**
 * The anomaly overlay, drawn as a 2-D canvas layer over each Cornerstone view rather than as a
 * second volume inside it.
 *
 * Why: with software WebGL (what a reading-room PC without a GPU driver and every CI machine
 * has), a fused volume makes every threshold or opacity change re-ray-cast both volumes in all
 * three views: 100-390 ms per change (docs/benchmarks.md). Here the map is resampled on the CPU
 * for the pixels a view shows only when its camera changes (a few ms per view); a threshold,
 * colormap or opacity change only re-colours those samples through a lookup table and copies
 * them to the canvas, and the CT is not drawn again at all. Canvas alpha blending is linear, so
 * the opacity slider's value is the share of the overlay's colour seen on screen, with no
 * correction for Cornerstone's slab blending. The operating point's region (a second map and
 * its level: viewports/overlayPixels.js) is sampled with the same plan, dims the overlay outside
 * it and is outlined at full opacity.
 */
const OUTLINE = [80, 220, 255]; // cyan: apart from every colour of the overlay's colormaps
import vtkColorMaps from '@kitware/vtk.js/Rendering/Core/ColorTransferFunction/ColorMaps.js';
import { colourSamples, outlinePixels } from './overlayPixels.js';

const LUT_SIZE = 256;
// Views larger than this many CSS pixels are sampled every second pixel (then scaled smoothly).
const MAX_SAMPLES = 600_000;

/**
 * RGB lookup table (LUT_SIZE x 3 bytes) of a vtk.js colormap preset (the names Cornerstone
 * knows them by), interpolated linearly between its control points over 0..1.
 */
export function colormapLut(name, size = LUT_SIZE) {
  const preset = vtkColorMaps.getPresetByName(name);
  if (!preset) {
    throw new Error(`unknown colormap ${name}`);
  }
  const points = [];
  for (let i = 0; i + 3 < preset.RGBPoints.length; i += 4) {
    points.push(preset.RGBPoints.slice(i, i + 4));
  }
  const lo = points[0][0];
  const hi = points[points.length - 1][0];
  const lut = new Uint8ClampedArray(size * 3);
  let p = 0;
  for (let n = 0; n < size; n += 1) {
    const x = lo + ((hi - lo) * n) / (size - 1);
    while (p < points.length - 2 && points[p + 1][0] < x) {
      p += 1;
    }
    const [x0, ...c0] = points[p];
    const [x1, ...c1] = points[Math.min(p + 1, points.length - 1)];
    const f = x1 > x0 ? Math.min(1, Math.max(0, (x - x0) / (x1 - x0))) : 0;
    for (let c = 0; c < 3; c += 1) {
      lut[n * 3 + c] = Math.round(255 * (c0[c] + f * (c1[c] - c0[c])));
    }
  }
  return lut;
}

/**
 * The map's fractional voxel index (i, j, k) of patient point `lps` (LPS mm); `map.direction`
 * holds the x, y, z index axes in LPS (orthonormal).
 */
export function worldToIndex(map, lps) {
  const { origin, direction, spacing } = map;
  return [0, 1, 2].map(
    (a) => [0, 1, 2].reduce((sum, c) => sum + direction[3 * a + c] * (lps[c] - origin[c]), 0) / spacing[a],
  );
}

/**
 * Index-space sampling plan of a view: the map index (i, j, k; fractional) at the centre of
 * sample (0, 0) and its steps along the sample rows and columns, for a view whose CSS pixel
 * (x, y) shows patient point canvasToWorld([x, y]). See worldToIndex.
 */
export function samplingPlan(map, canvasToWorld, width, height, step) {
  const toIndex = (lps) => worldToIndex(map, lps);
  const half = step / 2;
  const p0 = toIndex(canvasToWorld([half, half]));
  const px = toIndex(canvasToWorld([half + step, half]));
  const py = toIndex(canvasToWorld([half, half + step]));
  return {
    columns: Math.ceil(width / step),
    rows: Math.ceil(height / step),
    start: p0,
    alongRow: px.map((v, a) => v - p0[a]),
    alongColumn: py.map((v, a) => v - p0[a]),
  };
}

/**
 * The map's values (trilinear) at every sample of `plan`, NaN outside the map. A loop over the
 * view's pixels, not the map's voxels: its cost follows the screen, whatever the study's size.
 */
export function sampleMap(map, plan) {
  const [nx, ny, nz] = map.dimensions;
  const { values } = map;
  const { columns, rows, start, alongRow, alongColumn } = plan;
  const out = new Float32Array(columns * rows);
  const sliceSize = nx * ny;
  // The lower corner of the 2 x 2 x 2 neighbourhood stops one voxel short of the far edge; along
  // an axis of one voxel the neighbour is the voxel itself.
  const [lastI, lastJ, lastK] = [nx, ny, nz].map((size) => Math.max(size - 2, 0));
  const di = nx > 1 ? 1 : 0;
  const dj = ny > 1 ? nx : 0;
  const dk = nz > 1 ? sliceSize : 0;
  let n = 0;
  for (let r = 0; r < rows; r += 1) {
    let i = start[0] + r * alongColumn[0];
    let j = start[1] + r * alongColumn[1];
    let k = start[2] + r * alongColumn[2];
    for (let c = 0; c < columns; c += 1, n += 1) {
      if (i < -0.5 || j < -0.5 || k < -0.5 || i > nx - 0.5 || j > ny - 0.5 || k > nz - 0.5) {
        out[n] = NaN;
      } else {
        // Clamp to the outermost voxel centres: the half voxel beyond them repeats the edge.
        const ci = Math.min(Math.max(i, 0), nx - 1);
        const cj = Math.min(Math.max(j, 0), ny - 1);
        const ck = Math.min(Math.max(k, 0), nz - 1);
        const i0 = Math.min(Math.floor(ci), lastI);
        const j0 = Math.min(Math.floor(cj), lastJ);
        const k0 = Math.min(Math.floor(ck), lastK);
        const fi = ci - i0;
        const fj = cj - j0;
        const fk = ck - k0;
        const base = i0 + j0 * nx + k0 * sliceSize;
        const c00 = values[base] + fi * (values[base + di] - values[base]);
        const c10 = values[base + dj] + fi * (values[base + dj + di] - values[base + dj]);
        const c01 = values[base + dk] + fi * (values[base + dk + di] - values[base + dk]);
        const c11 = values[base + dk + dj] + fi * (values[base + dk + dj + di] - values[base + dk + dj]);
        const c0 = c00 + fj * (c10 - c00);
        const c1 = c01 + fj * (c11 - c01);
        out[n] = c0 + fk * (c1 - c0);
      }
      i += alongRow[0];
      j += alongRow[1];
      k += alongRow[2];
    }
  }
  return out;
}

/**
 * One view's overlay canvas, inserted just above Cornerstone's own canvas (so the crosshairs and
 * other SVG annotations stay on top). `viewport()` returns the Cornerstone viewport.
 */
export function createOverlayLayer(element, viewport) {
  const host = element.querySelector('.viewport-element') ?? element;
  const canvas = document.createElement('canvas');
  canvas.className = 'vw-overlay';
  canvas.setAttribute('aria-hidden', 'true');
  Object.assign(canvas.style, { position: 'absolute', inset: '0', width: '100%', height: '100%', pointerEvents: 'none' });
  const ctCanvas = host.querySelector('canvas.cornerstone-canvas');
  host.insertBefore(canvas, ctCanvas ? ctCanvas.nextSibling : host.firstChild);
  const scratch = document.createElement('canvas');

  let map = null;
  let display = null;
  let lut = null;
  let lutName = null;
  let sampled = null; // { key, plan, samples, step, regionSamples }
  let image = null; // ImageData of the coloured samples
  let colouredWith = null; // the display values `image` was coloured with
  let region = null; // { map, level } of the operating point, or null
  const outline = document.createElement('canvas');

  const cameraKey = (width, height) => {
    const vp = viewport();
    const c = vp.getCamera();
    return JSON.stringify([width, height, c.focalPoint, c.position, c.viewUp, c.parallelScale, map.id, region?.map.id]);
  };

  /** Re-samples if the camera, size or map changed; re-colours; draws. Returns true if drawn. */
  function draw() {
    const width = element.clientWidth;
    const height = element.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!map || !display || display.opacity <= 0 || width < 1 || height < 1) {
      return false;
    }
    const key = cameraKey(width, height);
    let recolour = false;
    if (!sampled || sampled.key !== key) {
      const step = width * height > MAX_SAMPLES ? 2 : 1;
      const vp = viewport();
      const plan = samplingPlan(map, (xy) => vp.canvasToWorld(xy), width, height, step);
      sampled = { key, plan, step, samples: sampleMap(map, plan), regionSamples: null };
      if (region) {
        const regionPlan = samplingPlan(region.map, (xy) => vp.canvasToWorld(xy), width, height, step);
        sampled.regionSamples = sampleMap(region.map, regionPlan);
      }
      image = new ImageData(plan.columns, plan.rows);
      recolour = true;
    }
    if (lutName !== display.colormap) {
      lut = colormapLut(display.colormap);
      lutName = display.colormap;
      recolour = true;
    }
    const level = region && sampled.regionSamples ? region.level : null;
    const colourKey = `${display.lower}|${display.upper}|${lutName}|${level}`;
    const { columns, rows } = sampled.plan;
    if (recolour || colouredWith !== colourKey) {
      colourSamples(sampled.samples, lut, display.lower, display.upper, image.data, sampled.regionSamples, level);
      colouredWith = colourKey;
      for (const c of [scratch, outline]) {
        if (c.width !== image.width || c.height !== image.height) {
          c.width = image.width;
          c.height = image.height;
        }
      }
      scratch.getContext('2d').putImageData(image, 0, 0);
      const edges = new ImageData(columns, rows);
      if (level !== null) {
        outlinePixels(sampled.regionSamples, level, columns, rows, OUTLINE, edges.data);
      }
      outline.getContext('2d').putImageData(edges, 0, 0);
    }
    ctx.globalAlpha = display.opacity;
    ctx.imageSmoothingEnabled = true;
    const size = [columns * sampled.step * dpr, rows * sampled.step * dpr];
    ctx.drawImage(scratch, 0, 0, columns, rows, 0, 0, ...size);
    if (level !== null) {
      ctx.globalAlpha = 1;
      ctx.imageSmoothingEnabled = false; // a crisp line, one sample wide
      ctx.drawImage(outline, 0, 0, columns, rows, 0, 0, ...size);
    }
    return true;
  }

  return {
    canvas,
    /** `next`: { id, values, dimensions, spacing, origin, direction } (data/maps.js) or null. */
    setMap(next) {
      map = next;
      sampled = null;
    },
    /** The operating point's region: `next` { map (as setMap's), level } or null (none drawn). */
    setRegion(next) {
      if (next?.map.id !== region?.map.id) {
        sampled = null;
      }
      region = next ? { ...next } : null;
    },
    /** { colormap (vtk preset name), opacity 0..1, lower, upper } or null (nothing drawn). */
    setDisplay(next) {
      display = next ? { ...next } : null;
    },
    draw,
  };
}
