/**
 * The 2 × 2 layout's fourth view: an axial maximum-intensity slab through the axial view's slice
 * (nodules are read on MIP slabs: a vessel runs on through the slab, a nodule ends in it), with
 * the anomaly overlay. It follows the axial view (slice, zoom, pan) and takes no tools of its
 * own: Cornerstone's crosshairs cannot relate two parallel views, and one place to scroll is
 * clearer. It exists only while the 2 × 2 layout is on screen (no WebGL work otherwise).
 */
import { Enums, setVolumesForViewports } from '@cornerstonejs/core';
import { voiRange } from '../state/presets.js';
import { createOverlayLayer } from './overlayLayer.js';

export const SLAB_VIEW_ID = 'axialSlab';
// The slab this view shows when the viewer's own slab (key B) is off: a common reading slab.
export const DEFAULT_SLAB_VIEW_MM = 10;

/** `axial()` returns the axial viewport the slab view follows. */
export function createSlabView({ engine, element, volumeId, axial }) {
  let enabled = false;
  let thicknessMm = DEFAULT_SLAB_VIEW_MM;
  let voi = null;
  let layer = null;
  // The overlay's last inputs, replayed onto a new layer each time the view is shown.
  const overlay = { map: null, display: null, region: null };
  const viewport = () => engine.getViewport(SLAB_VIEW_ID);

  const drawOverlay = () => enabled && layer?.draw();
  element.addEventListener(Enums.Events.IMAGE_RENDERED, drawOverlay);

  function follow() {
    if (!enabled) {
      return;
    }
    const { focalPoint, position, viewUp, parallelScale } = axial().getCamera();
    viewport().setCamera({ focalPoint, position, viewUp, parallelScale });
    viewport().render();
  }

  function applySlab() {
    const vp = viewport();
    vp.setBlendMode(Enums.BlendModes.MAXIMUM_INTENSITY_BLEND);
    vp.setSlabThickness(thicknessMm);
    if (voi) {
      vp.setProperties({ voiRange: voiRange(voi) }, volumeId);
    }
  }

  return {
    get enabled() {
      return enabled;
    },
    get thicknessMm() {
      return thicknessMm;
    },
    /** Puts the view on screen (or updates it) with a slab of `mm` and window `currentVoi`. */
    async show(mm, currentVoi) {
      thicknessMm = mm > 0 ? mm : DEFAULT_SLAB_VIEW_MM;
      voi = currentVoi ?? voi;
      if (!enabled) {
        engine.enableElement({
          viewportId: SLAB_VIEW_ID,
          type: Enums.ViewportType.ORTHOGRAPHIC,
          element,
          defaultOptions: { orientation: Enums.OrientationAxis.AXIAL, background: [0, 0, 0] },
        });
        await setVolumesForViewports(engine, [{ volumeId }], [SLAB_VIEW_ID]);
        layer = createOverlayLayer(element, viewport);
        layer.setMap(overlay.map);
        layer.setDisplay(overlay.display);
        layer.setRegion(overlay.region);
        enabled = true;
      }
      applySlab();
      follow();
    },
    hide() {
      if (enabled) {
        enabled = false;
        layer?.canvas.remove();
        layer = null;
        engine.disableElement(SLAB_VIEW_ID);
      }
    },
    follow,
    setVoi(next) {
      voi = { ...next };
      if (enabled) {
        viewport().setProperties({ voiRange: voiRange(voi) }, volumeId);
        viewport().render();
      }
    },
    setOverlayMap(map) {
      overlay.map = map;
      layer?.setMap(map);
      drawOverlay();
    },
    setOverlayDisplay(display) {
      overlay.display = display;
      layer?.setDisplay(display);
      drawOverlay();
    },
    setOverlayRegion(region) {
      overlay.region = region;
      layer?.setRegion(region);
      drawOverlay();
    },
  };
}
