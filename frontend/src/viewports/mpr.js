/**
 * The three orthogonal views of the CT volume (axial, coronal, sagittal), their tools
 * (crosshairs, window/level, pan, zoom, scroll) and the events the viewer's state listens to.
 * Callers give elements and imageIds; they get a small controller and callbacks, never
 * Cornerstone objects to poke at. Loading is reported by loading.js, the tools are tools.js',
 * what a view shows in patient terms viewGeometry.js'.
 */
import {
  Enums,
  RenderingEngine,
  eventTarget,
  getRenderingEngine,
  setVolumesForViewports,
  utilities as csUtils,
  volumeLoader,
} from '@cornerstonejs/core';
import { Enums as ToolEnums } from '@cornerstonejs/tools';
import { voiRange, windowLevel } from '../state/presets.js';
import { mark } from '../timings.js';
import { watchLoading } from './loading.js';
import { createOverlayLayer, worldToIndex } from './overlayLayer.js';
import { createSlabView } from './slabView.js';
import { TOOL_GROUP_ID, registerTools, setUpTools } from './tools.js';
import { probeAt, sliceOf } from './viewGeometry.js';

export { directionLetters } from './viewGeometry.js';

const ENGINE_ID = 'fusionscreen';
const MIN_SLAB_MM = 0.05; // Cornerstone's own thinnest slab: the plain slice

export const ORIENTATIONS = Object.freeze({
  axial: Enums.OrientationAxis.AXIAL,
  coronal: Enums.OrientationAxis.CORONAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
});

/**
 * Creates the views. `elements` maps plane -> div; `on` receives
 * slice(plane, {index, count, axis, positionMm, orientation}), voi({window, level}), crosshairs([x,y,z]),
 * cursor({lps, value}|null), progress({loaded, total, failed}), loadFailed(status),
 * firstImage(), volumeLoaded().
 */
export async function createMpr({ elements, slabElement, imageIds, seriesInstanceUID, voi, mode, on }) {
  registerTools();
  const planes = Object.keys(elements);
  const volumeId = `cornerstoneStreamingImageVolume:ct-${seriesInstanceUID}`;
  const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds });
  mark('volumeCreated');
  // Frames stream in while the views are being set up (WebGL set-up takes a while).
  volume.load();
  mark('loadStarted');
  await new Promise((resolve) => setTimeout(resolve, 0)); // let the first requests go out

  const engine = getRenderingEngine(ENGINE_ID) ?? new RenderingEngine(ENGINE_ID);
  engine.setViewports(
    planes.map((plane) => ({
      viewportId: plane,
      type: Enums.ViewportType.ORTHOGRAPHIC,
      element: elements[plane],
      defaultOptions: { orientation: ORIENTATIONS[plane], background: [0, 0, 0] },
    })),
  );
  const viewport = (plane) => engine.getViewport(plane);
  mark('viewportsCreated');

  const loaded = watchLoading({
    volume,
    volumeId,
    axialViewport: () => viewport('axial'),
    axialElement: elements.axial,
    on,
  });

  await setVolumesForViewports(engine, [{ volumeId }], planes);
  mark('volumesSet');

  eventTarget.addEventListener(ToolEnums.Events.CROSSHAIR_TOOL_CENTER_CHANGED, (evt) => {
    if (evt.detail.toolGroupId === TOOL_GROUP_ID) {
      on.crosshairs([...evt.detail.toolCenter]);
    }
  });

  const tools = setUpTools(ENGINE_ID, planes);

  // Events -> callbacks.
  const reportSlice = (plane) => {
    const slice = sliceOf(viewport(plane));
    if (slice) {
      on.slice(plane, slice);
    }
  };
  let appliedVoi = null;
  planes.forEach((plane) => {
    const element = elements[plane];
    element.addEventListener(Enums.Events.CAMERA_MODIFIED, () => reportSlice(plane));
    element.addEventListener(Enums.Events.VOI_MODIFIED, (evt) => {
      const range = evt.detail.range;
      if (range && (!evt.detail.volumeId || evt.detail.volumeId === volumeId)) {
        appliedVoi = windowLevel(range);
        on.voi(appliedVoi);
      }
    });
    element.addEventListener('mousemove', (evt) => on.cursor(probeAt(viewport(plane), element, evt, volume, loaded)));
    element.addEventListener('mouseleave', () => on.cursor(null));
    element.addEventListener('contextmenu', (evt) => evt.preventDefault());
  });

  // The anomaly overlay: a 2-D layer over each view (viewports/overlayLayer.js), re-drawn
  // right after Cornerstone draws the view (same task, so the same frame) and on its own when
  // only the overlay's display changes.
  const layers = Object.fromEntries(planes.map((plane) => [plane, createOverlayLayer(elements[plane], () => viewport(plane))]));
  planes.forEach((plane) => elements[plane].addEventListener(Enums.Events.IMAGE_RENDERED, () => layers[plane].draw()));
  let overlayMap = null;
  // The 2 x 2 layout's axial slab view (viewports/slabView.js), following the axial view.
  const slabView = slabElement ? createSlabView({ engine, element: slabElement, volumeId, axial: () => viewport('axial') }) : null;
  if (slabView) {
    elements.axial.addEventListener(Enums.Events.CAMERA_MODIFIED, () => slabView.follow());
  }

  const controller = {
    volume,
    /** Shows `map` (from data/maps.js) over the CT in every view, replacing the previous one. */
    setOverlay(map) {
      overlayMap = { ...map, id: `${map.kind}-${map.resultId ?? ''}` };
      planes.forEach((plane) => {
        layers[plane].setMap(overlayMap);
        layers[plane].draw();
      });
      slabView?.setOverlayMap(overlayMap);
    },
    /** The overlay map's value (nearest voxel) at patient point `lps`, and its voxel index. */
    overlayProbe(lps) {
      if (!overlayMap) {
        return { value: null };
      }
      const ijk = worldToIndex(overlayMap, lps).map(Math.round);
      const [ni, nj, nk] = overlayMap.dimensions;
      const [i, j, k] = ijk;
      const inside = i >= 0 && j >= 0 && k >= 0 && i < ni && j < nj && k < nk;
      return { value: inside ? overlayMap.values[i + j * ni + k * ni * nj] : null, ijk };
    },
    /**
     * colormap name, opacity 0..1 (the share of the overlay's colour on screen), lower
     * (threshold) and upper map values. Draws every view's overlay now, without re-drawing the CT.
     */
    /** The operating point's region: `region` { map, level } (the local map) or null. */
    setOverlayRegion(region) {
      const next = region ? { map: { ...region.map, id: `${region.map.kind}-${region.map.resultId ?? ''}` }, level: region.level } : null;
      planes.forEach((plane) => {
        layers[plane].setRegion(next);
        layers[plane].draw();
      });
      slabView?.setOverlayRegion(next);
    },
    /** The slice number (1-based, as sliceOf counts) a view would show at patient point `lps`. */
    sliceNumberAt(plane, lps) {
      const vp = viewport(plane);
      const camera = vp.getCamera();
      const { spacingInNormalDirection, imageVolume } = csUtils.getTargetVolumeAndSpacingInNormalDir(vp, camera);
      const entry = imageVolume && vp.getActors().find((a) => a.referencedId === imageVolume.volumeId || a.uid === imageVolume.volumeId);
      if (!entry) {
        return null;
      }
      const { min, max } = csUtils.getSliceRange(entry.actor, camera.viewPlaneNormal, camera.focalPoint);
      const count = Math.round((max - min) / spacingInNormalDirection) + 1;
      const along = lps.reduce((sum, v, i) => sum + v * camera.viewPlaneNormal[i], 0);
      const index = Math.floor(((along - min) / (max - min)) * count);
      return Math.min(count - 1, Math.max(0, index)) + 1;
    },
    setOverlayDisplay(display) {
      planes.forEach((plane) => {
        layers[plane].setDisplay(display);
        layers[plane].draw();
      });
      slabView?.setOverlayDisplay(display);
    },
    /** Moves the crosshairs (and every view's slice) to patient point `lps`. */
    jumpTo(lps) {
      const crosshairs = tools.crosshairs();
      if (crosshairs?.setToolCenter) {
        crosshairs.setToolCenter([...lps]); // moves every view's slice through the point
      } else {
        planes.forEach((plane) => {
          const vp = viewport(plane);
          const camera = vp.getCamera();
          const delta = lps.map((v, i) => v - camera.focalPoint[i]);
          vp.setCamera({ focalPoint: [...lps], position: camera.position.map((v, i) => v + delta[i]) });
        });
      }
      engine.renderViewports(planes);
      on.crosshairs([...lps]);
    },
    planes,
    setVoi(next) {
      if (appliedVoi && appliedVoi.window === next.window && appliedVoi.level === next.level) {
        return;
      }
      appliedVoi = { ...next };
      planes.forEach((plane) => viewport(plane).setProperties({ voiRange: voiRange(next) }, volumeId));
      engine.renderViewports(planes);
      slabView?.setVoi(next);
    },
    setMode: tools.setMode,
    linkZoom: tools.linkZoom,
    clearMeasurements() {
      tools.clearMeasurements();
      engine.renderViewports(planes);
    },
    /** A maximum-intensity slab of `mm` through each view's slice (0: the plain slice). */
    setSlab(mm) {
      planes.forEach((plane) => {
        const vp = viewport(plane);
        vp.setBlendMode(mm > 0 ? Enums.BlendModes.MAXIMUM_INTENSITY_BLEND : Enums.BlendModes.COMPOSITE);
        vp.setSlabThickness(mm > 0 ? mm : MIN_SLAB_MM);
      });
      engine.renderViewports(planes);
    },
    /**
     * The 2 x 2 layout's fourth view: an axial maximum-intensity slab of `mm` (0: the default
     * reading slab) through the axial view's slice, or none (`mm` null). Returns its thickness.
     */
    async showSlabView(mm) {
      if (!slabView) {
        return null;
      }
      if (mm === null) {
        slabView.hide();
        return null;
      }
      await slabView.show(mm, appliedVoi);
      return slabView.thicknessMm;
    },
    reset() {
      planes.forEach((plane) => viewport(plane).resetCamera({ resetPan: true, resetZoom: true, resetToCenter: true }));
      engine.renderViewports(planes);
      tools.crosshairs()?.computeToolCenter?.();
    },
    scroll(plane, delta) {
      csUtils.scroll(viewport(plane), { delta });
    },
    resize() {
      engine.resize(true, true); // keep each view's camera: slice, zoom and pan survive
    },
    /** Where patient point `lps` (mm) is drawn in a view, in CSS pixels of its element. */
    worldToCanvas(plane, lps) {
      return viewport(plane).worldToCanvas(lps);
    },
    /** The patient point (LPS mm) drawn at CSS pixel `xy` of a view's element, on its slice. */
    canvasToWorld(plane, xy) {
      return [...viewport(plane).canvasToWorld(xy)];
    },
    /** Signed distance (mm) of patient point `lps` from the slice a view shows. */
    distanceToSlice(plane, lps) {
      const { focalPoint, viewPlaneNormal } = viewport(plane).getCamera();
      return lps.reduce((sum, v, i) => sum + (v - focalPoint[i]) * viewPlaneNormal[i], 0);
    },
    /** The view's centre (focal point) in LPS mm. */
    focalPoint(plane) {
      return [...viewport(plane).getCamera().focalPoint];
    },
  };
  controller.setMode(mode);
  controller.setVoi(voi);
  planes.forEach(reportSlice);
  engine.renderViewports(planes);
  return controller;
}
