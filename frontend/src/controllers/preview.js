/**
 * The middle axial slice drawn from one frame long before the volume's first rendered image
 * (seconds, with software WebGL), and hidden once the views show the CT.
 */
import { TAG, first, frameUrl } from '../data/dicomweb.js';
import { mark, timings } from '../timings.js';
import { drawPreview } from '../viewports/preview.js';

// How long the views' set-up waits for the preview (ms): one frame is ~0.5 MB.
const PREVIEW_WAIT_MS = 600;

export function previewOrTimeout(previewDrawn) {
  return Promise.race([previewDrawn, new Promise((resolve) => setTimeout(resolve, PREVIEW_WAIT_MS))]);
}

const previewCanvas = (doc) => doc.querySelector('[data-preview=axial]');

export async function showPreview(doc, config, series, instance, viewer) {
  const canvas = previewCanvas(doc);
  if (!canvas || !instance || timings.firstImage !== undefined) {
    return false;
  }
  const url = frameUrl(config, series.seriesInstanceUID, first(instance, TAG.SOPInstanceUID));
  const drawn = await drawPreview(canvas, url, instance, viewer.get().voi);
  if (!drawn || timings.firstImage !== undefined) {
    return false;
  }
  canvas.hidden = false;
  mark('firstPreview');
  viewer.actions.previewShown();
  return true;
}

export function hidePreview(doc) {
  const canvas = previewCanvas(doc);
  if (canvas) {
    canvas.hidden = true;
  }
}
