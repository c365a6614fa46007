/**
 * The volume's loading, reported: progress, failures, the whole volume, and the first CT image
 * (the axial view has drawn its slice with pixels in it: the slice itself, or a neighbour the
 * progressive loader copied in until it arrives). Returns the set of loaded imageIds.
 */
import { Enums, eventTarget, utilities as csUtils } from '@cornerstonejs/core';

export function watchLoading({ volume, volumeId, axialViewport, axialElement, on }) {
  const loaded = new Set();
  let failed = 0;
  const total = volume.imageIds.length;
  const axialSliceHasPixels = () => {
    const camera = axialViewport().getCamera();
    const [ni, nj, nk] = volume.dimensions;
    const k = Math.round(csUtils.transformWorldToIndex(volume.imageData, camera.focalPoint)[2]);
    if (k < 0 || k >= nk || !volume.voxelManager) {
      return false;
    }
    // Unloaded voxels are 0; a CT slice's corners and centre (air, tissue) never all are.
    // (k is the acquisition axis, which is the axial one for CT.)
    const probes = [
      [0, 0],
      [ni - 1, nj - 1],
      [Math.floor(ni / 2), Math.floor(nj / 2)],
    ];
    return probes.some(([i, j]) => Number(volume.voxelManager.getAtIJK(i, j, k)) !== 0);
  };
  let firstImageSeen = false;
  eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, (evt) => {
    loaded.add(evt.detail.image?.imageId);
    on.progress({ loaded: loaded.size, total, failed });
  });
  eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, (evt) => {
    if (!volume.imageIds.includes(evt.detail.imageId)) {
      return;
    }
    failed += 1;
    on.progress({ loaded: loaded.size, total, failed });
    on.loadFailed(evt.detail.error?.status ?? null);
  });
  eventTarget.addEventListener(Enums.Events.IMAGE_VOLUME_LOADING_COMPLETED, (evt) => {
    if (evt.detail.volumeId === volumeId) {
      on.volumeLoaded();
    }
  });
  axialElement.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
    if (!firstImageSeen && axialSliceHasPixels()) {
      firstImageSeen = true;
      on.firstImage();
    }
  });
  return loaded;
}
