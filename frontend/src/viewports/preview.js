/**
 * The middle axial slice, drawn straight from one frame while the volume streams in.
 *
 * With software WebGL the volume's first rendered image takes seconds (texture uploads of the
 * whole volume); one 512 x 512 frame fetched and drawn on a 2D canvas takes milliseconds. The
 * preview sits where Cornerstone will draw the same slice (fitted the same way, radiological
 * convention) and goes as soon as Cornerstone's own image is on screen. Only for the common
 * case: axial acquisition in the standard orientation, 16-bit uncompressed frames (what the
 * site's WADO-RS serves); otherwise there is no preview and nothing is lost.
 */
import { TAG, fetchInstanceMetadata, fetchRawFrame, fetchSeriesInstances, first } from '../data/dicomweb.js';
import { voiRange } from '../state/presets.js';

const T = Object.freeze({
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  PixelSpacing: '00280030',
  Rows: '00280010',
  Columns: '00280011',
  BitsAllocated: '00280100',
  PixelRepresentation: '00280103',
  RescaleSlope: '00281053',
  RescaleIntercept: '00281052',
});

const values = (item, tag) => item?.[tag]?.Value ?? [];

/**
 * The instance Cornerstone's axial view opens on, if the series is a standard axial one: its
 * volume is sorted by z ascending and opens at index floor(n / 2) (getVolumeCenterIJK).
 */
export function middleAxialInstance(instances) {
  const axial = instances.filter((instance) => {
    const o = values(instance, T.ImageOrientationPatient).map(Number);
    return (
      o.length === 6 &&
      Math.abs(o[0] - 1) < 1e-3 &&
      Math.abs(o[4] - 1) < 1e-3 &&
      values(instance, T.ImagePositionPatient).length === 3 &&
      Number(first(instance, T.BitsAllocated)) === 16
    );
  });
  if (!axial.length || axial.length !== instances.length) {
    return null;
  }
  const z = (instance) => Number(values(instance, T.ImagePositionPatient)[2]);
  const sorted = [...axial].sort((a, b) => z(a) - z(b));
  return sorted[Math.floor(sorted.length / 2)];
}

const isStandardAxial = (instance) => {
  const o = values(instance, T.ImageOrientationPatient).map(Number);
  return o.length === 6 && Math.abs(o[0] - 1) < 1e-3 && Math.abs(o[4] - 1) < 1e-3;
};
const zOf = (instance) => Number(values(instance, T.ImagePositionPatient)[2]);

/**
 * The same instance as middleAxialInstance, found without the whole series' metadata (which
 * takes a second or more to arrive): the QIDO instance list ordered by Instance Number, and the
 * metadata of the first and middle instances to tell which way the numbers run along z. Assumes
 * Instance Numbers follow the slice position, as a CT series' do; null when it cannot tell.
 */
export async function middleAxialInstanceEarly(config, seriesInstanceUID) {
  const listed = await fetchSeriesInstances(config, seriesInstanceUID);
  const number = (instance) => Number(first(instance, TAG.InstanceNumber));
  const byNumber = listed.filter((i) => Number.isFinite(number(i))).sort((a, b) => number(a) - number(b));
  const n = byNumber.length;
  if (!n || n !== listed.length || new Set(byNumber.map(number)).size !== n) {
    return null;
  }
  const meta = (i) => fetchInstanceMetadata(config, seriesInstanceUID, first(byNumber[i], TAG.SOPInstanceUID));
  const k = Math.floor(n / 2);
  const [lowest, middle] = await Promise.all([meta(0), k ? meta(k) : null]);
  if (!middle) {
    return isStandardAxial(lowest) ? lowest : null;
  }
  if (![lowest, middle].every(isStandardAxial) || zOf(lowest) === zOf(middle)) {
    return null;
  }
  // Cornerstone opens at index floor(n / 2) counted from the lowest z.
  const wanted = zOf(lowest) < zOf(middle) ? k : n - 1 - k;
  return wanted === k ? middle : meta(wanted);
}

/**
 * Fetches the frame of `instance` and draws it into `canvas` (sized to its element) with the
 * window `voi`. Resolves true when drawn, false when it could not be (nothing is drawn then).
 */
export async function drawPreview(canvas, frameUrl, instance, voi) {
  const rows = Number(first(instance, T.Rows));
  const columns = Number(first(instance, T.Columns));
  const [rowSpacing, columnSpacing] = values(instance, T.PixelSpacing).map(Number);
  if (!rows || !columns || !rowSpacing || !columnSpacing || Number(first(instance, T.BitsAllocated)) !== 16) {
    return false;
  }
  const buffer = await fetchRawFrame(frameUrl);
  if (!buffer || buffer.byteLength < rows * columns * 2) {
    return false;
  }
  const signed = Number(first(instance, T.PixelRepresentation)) === 1;
  const stored = signed ? new Int16Array(buffer, 0, rows * columns) : new Uint16Array(buffer, 0, rows * columns);
  const slope = Number(first(instance, T.RescaleSlope) ?? 1);
  const intercept = Number(first(instance, T.RescaleIntercept) ?? 0);
  const { lower, upper } = voiRange(voi);
  const image = new ImageData(columns, rows);
  const scale = 255 / (upper - lower);
  for (let i = 0; i < stored.length; i += 1) {
    const hu = stored[i] * slope + intercept;
    const grey = hu <= lower ? 0 : hu >= upper ? 255 : (hu - lower) * scale;
    const p = 4 * i;
    image.data[p] = grey;
    image.data[p + 1] = grey;
    image.data[p + 2] = grey;
    image.data[p + 3] = 255;
  }
  const native = new OffscreenCanvas(columns, rows);
  native.getContext('2d').putImageData(image, 0, 0);

  // Fit as Cornerstone's camera does (Viewport.getFitParallelScale, inset 1): the extent between
  // the first and last voxel centres fills the view's width or height, centred.
  // (The canvas is hidden until drawn: its pane gives the size.)
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.parentElement.clientWidth;
  const height = canvas.parentElement.clientHeight;
  if (!width || !height) {
    return false;
  }
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const mmToPx = Math.min(width / ((columns - 1) * columnSpacing), height / ((rows - 1) * rowSpacing));
  const w = columns * columnSpacing * mmToPx;
  const h = rows * rowSpacing * mmToPx;
  const context = canvas.getContext('2d');
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.fillStyle = '#000';
  context.fillRect(0, 0, width, height);
  context.imageSmoothingEnabled = true;
  context.drawImage(native, (width - w) / 2, (height - h) / 2, w, h);
  return true;
}
