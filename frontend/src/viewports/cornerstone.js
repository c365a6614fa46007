/** One-time set-up of Cornerstone3D: rendering, tools, the DICOM image loader and its workers. */
import {
  ProgressiveRetrieveImages,
  cornerstoneStreamingImageVolumeLoader,
  init as coreInit,
  utilities,
  volumeLoader,
} from '@cornerstonejs/core';
import { init as dicomImageLoaderInit } from '@cornerstonejs/dicom-image-loader';
import { init as toolsInit } from '@cornerstonejs/tools';

let started = null;

export function initCornerstone() {
  started ??= (async () => {
    // Frames arrive uncompressed (the site decodes anything compressed), so decoding is a copy:
    // two workers are plenty and leave the CPU to rendering.
    dicomImageLoaderInit({
      maxWebWorkers: Math.min(2, navigator.hardwareConcurrency || 1),
      // One frame per request, so ask for the bare bytes (the site serves a single-part
      // application/octet-stream for that): the loader otherwise scans every multipart body
      // byte by byte in JavaScript for its boundary, about a second per full-size study.
      beforeSend: () => ({ Accept: 'application/octet-stream' }),
    });
    // Three views share one WebGL context: creating the default pool of seven costs seconds
    // with software rendering and buys nothing for three viewports.
    await coreInit({ rendering: { webGlContextCount: 1 } });
    toolsInit();
    volumeLoader.registerUnknownVolumeLoader(cornerstoneStreamingImageVolumeLoader);
    volumeLoader.registerVolumeLoader('cornerstoneStreamingImageVolume', cornerstoneStreamingImageVolumeLoader);
    // Middle, first and last slices first, then every fourth: all three views show the whole
    // study early and sharpen as the remaining slices arrive.
    utilities.imageRetrieveMetadataProvider.add('volume', ProgressiveRetrieveImages.interleavedRetrieveStages);
  })();
  return started;
}
