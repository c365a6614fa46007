/**
 * What a view shows, in patient terms: the letters of its screen directions, the slice it is
 * on, and the CT value under a pointer. Pure functions of a Cornerstone viewport and volume.
 */
import { utilities as csUtils } from '@cornerstonejs/core';

const AXIS_NAMES = ['x', 'y', 'z'];
// Patient directions of the LPS axes: +x left, +y posterior, +z superior.
const POSITIVE = ['L', 'P', 'S'];
const NEGATIVE = ['R', 'A', 'I'];

/** Letters for a direction in LPS, strongest component first ("A", "AL" when oblique). */
export function directionLetters(vector) {
  return [0, 1, 2]
    .filter((axis) => Math.abs(vector[axis]) > 0.25)
    .sort((a, b) => Math.abs(vector[b]) - Math.abs(vector[a]))
    .map((axis) => (vector[axis] > 0 ? POSITIVE[axis] : NEGATIVE[axis]))
    .join('');
}

function dominantAxis(vector) {
  return [0, 1, 2].reduce((best, axis) => (Math.abs(vector[axis]) > Math.abs(vector[best]) ? axis : best), 0);
}

/** Patient directions at the top and right of a view's screen, from its camera. */
export function screenDirections(vp) {
  const { clientWidth: w, clientHeight: h } = vp.canvas;
  const centre = vp.canvasToWorld([w / 2, h / 2]);
  const right = vp.canvasToWorld([w / 2 + 10, h / 2]).map((v, i) => v - centre[i]);
  const up = vp.canvasToWorld([w / 2, h / 2 - 10]).map((v, i) => v - centre[i]);
  const neg = (v) => v.map((x) => -x);
  return {
    top: directionLetters(up),
    bottom: directionLetters(neg(up)),
    left: directionLetters(neg(right)),
    right: directionLetters(right),
  };
}

/** The slice a view is on ({index, count, axis, positionMm, orientation}), or null. */
export function sliceOf(vp) {
  const data = csUtils.getImageSliceDataForVolumeViewport(vp);
  if (!data) {
    return null;
  }
  const camera = vp.getCamera();
  const axis = dominantAxis(camera.viewPlaneNormal);
  return {
    index: data.imageIndex,
    count: data.numberOfSlices,
    axis: AXIS_NAMES[axis],
    positionMm: camera.focalPoint[axis],
    orientation: screenDirections(vp),
  };
}

/** The patient point under a pointer event and the CT value there (null until its slice loaded). */
export function probeAt(vp, element, evt, volume, loaded) {
  const rect = element.getBoundingClientRect();
  const world = vp.canvasToWorld([evt.clientX - rect.left, evt.clientY - rect.top]);
  const [i, j, k] = csUtils.transformWorldToIndex(volume.imageData, world).map(Math.round);
  const [ni, nj, nk] = volume.dimensions;
  const inside = i >= 0 && j >= 0 && k >= 0 && i < ni && j < nj && k < nk;
  const index = inside ? i + j * ni + k * ni * nj : -1;
  const value = inside && volume.voxelManager ? Number(volume.voxelManager.getAtIndex(index)) : null;
  return { lps: world, value: inside && loaded.has(volume.imageIds[k]) ? value : null };
}
