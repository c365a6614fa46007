/**
 * The three orthogonal views of the CT volume (axial, coronal, sagittal), their tools
 * (crosshairs, window/level, pan, zoom, scroll) and the events the viewer's state listens to.
 * Callers give elements and imageIds; they get a small controller and callbacks, never
 * Cornerstone objects to poke at.
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
import {
  CrosshairsTool,
  Enums as ToolEnums,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  synchronizers,
} from '@cornerstonejs/tools';
import { voiRange, windowLevel } from '../state/presets.js';
import { createOverlayLayer, worldToIndex } from './overlayLayer.js';
import { mark } from '../timings.js';

const ENGINE_ID = 'fusionscreen';
const TOOL_GROUP_ID = 'fusionscreen-mpr';
const VOI_SYNC_ID = 'fusionscreen-voi';
const { MouseBindings } = ToolEnums;

export const ORIENTATIONS = Object.freeze({
  axial: Enums.OrientationAxis.AXIAL,
  coronal: Enums.OrientationAxis.CORONAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
});
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

const LINE_COLOURS = Object.freeze({
  axial: 'rgb(235, 87, 87)',
  coronal: 'rgb(86, 204, 120)',
  sagittal: 'rgb(242, 201, 76)',
});
const MODE_TOOL = Object.freeze({
  crosshairs: CrosshairsTool.toolName,
  windowLevel: WindowLevelTool.toolName,
  pan: PanTool.toolName,
  zoom: ZoomTool.toolName,
});

let toolsRegistered = false;

function registerTools() {
  if (!toolsRegistered) {
    [CrosshairsTool, WindowLevelTool, PanTool, ZoomTool, StackScrollTool].forEach(addTool);
    toolsRegistered = true;
  }
}

/**
 * Creates the views. `elements` maps plane -> div; `on` receives
 * slice(plane, {index, count, axis, positionMm, orientation}), voi({window, level}), crosshairs([x,y,z]),
 * cursor({lps, value}|null), progress({loaded, total, failed}), loadFailed(status),
 * firstImage(), volumeLoaded().
 */
export async function createMpr({ elements, imageIds, seriesInstanceUID, voi, mode, on }) {
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

  // Progress, failures and the first CT image: the axial view has drawn its slice with pixels in
  // it (the slice itself, or a neighbour the progressive loader copied in until it arrives).
  const loaded = new Set();
  let failed = 0;
  const total = volume.imageIds.length;
  const axialSliceHasPixels = () => {
    const camera = viewport('axial').getCamera();
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
  const onImageLoaded = (evt) => {
    loaded.add(evt.detail.image?.imageId);
    on.progress({ loaded: loaded.size, total, failed });
  };
  const onImageFailed = (evt) => {
    if (!volume.imageIds.includes(evt.detail.imageId)) {
      return;
    }
    failed += 1;
    on.progress({ loaded: loaded.size, total, failed });
    on.loadFailed(evt.detail.error?.status ?? null);
  };
  const onVolumeLoaded = (evt) => {
    if (evt.detail.volumeId === volumeId) {
      on.volumeLoaded();
    }
  };
  eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, onImageLoaded);
  eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, onImageFailed);
  eventTarget.addEventListener(Enums.Events.IMAGE_VOLUME_LOADING_COMPLETED, onVolumeLoaded);
  elements.axial.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
    if (!firstImageSeen && axialSliceHasPixels()) {
      firstImageSeen = true;
      on.firstImage();
    }
  });

  await setVolumesForViewports(engine, [{ volumeId }], planes);
  mark('volumesSet');

  eventTarget.addEventListener(ToolEnums.Events.CROSSHAIR_TOOL_CENTER_CHANGED, (evt) => {
    if (evt.detail.toolGroupId === TOOL_GROUP_ID) {
      on.crosshairs([...evt.detail.toolCenter]);
    }
  });

  // Tools: wheel scrolls, right drag zooms, middle drag pans; the left button is the chosen mode.
  const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID) ?? ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
  planes.forEach((plane) => group.addViewport(plane, ENGINE_ID));
  group.addTool(WindowLevelTool.toolName);
  group.addTool(PanTool.toolName);
  group.addTool(ZoomTool.toolName, { minZoomScale: 0.1, maxZoomScale: 40 });
  group.addTool(StackScrollTool.toolName);
  group.addTool(CrosshairsTool.toolName, {
    getReferenceLineColor: (viewportId) => LINE_COLOURS[viewportId],
    getReferenceLineControllable: () => true,
    // Lines can be dragged (and rotated: the orientation markers follow the camera); no slabs.
    getReferenceLineDraggableRotatable: () => true,
    getReferenceLineSlabThicknessControlsOn: () => false,
  });
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolPassive(CrosshairsTool.toolName);
  let primaryTool = null;

  const voiSync = synchronizers.createVOISynchronizer(VOI_SYNC_ID, {
    syncInvertState: false,
    syncColormap: false,
  });
  planes.forEach((plane) => voiSync.add({ renderingEngineId: ENGINE_ID, viewportId: plane }));

  // Events -> callbacks.
  const reportSlice = (plane) => {
    const vp = viewport(plane);
    const data = csUtils.getImageSliceDataForVolumeViewport(vp);
    if (!data) {
      return;
    }
    const camera = vp.getCamera();
    const axis = dominantAxis(camera.viewPlaneNormal);
    on.slice(plane, {
      index: data.imageIndex,
      count: data.numberOfSlices,
      axis: AXIS_NAMES[axis],
      positionMm: camera.focalPoint[axis],
      orientation: screenDirections(vp),
    });
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
    element.addEventListener('mousemove', (evt) => on.cursor(probe(plane, element, evt)));
    element.addEventListener('mouseleave', () => on.cursor(null));
    element.addEventListener('contextmenu', (evt) => evt.preventDefault());
  });

  /** Patient directions at the top and right of a view's screen, from its camera. */
  function screenDirections(vp) {
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

  function probe(plane, element, evt) {
    const rect = element.getBoundingClientRect();
    const world = viewport(plane).canvasToWorld([evt.clientX - rect.left, evt.clientY - rect.top]);
    const [i, j, k] = csUtils.transformWorldToIndex(volume.imageData, world).map(Math.round);
    const [ni, nj, nk] = volume.dimensions;
    const inside = i >= 0 && j >= 0 && k >= 0 && i < ni && j < nj && k < nk;
    const index = inside ? i + j * ni + k * ni * nj : -1;
    const value = inside && volume.voxelManager ? Number(volume.voxelManager.getAtIndex(index)) : null;
    return { lps: world, value: inside && loaded.has(volume.imageIds[k]) ? value : null };
  }

  // The anomaly overlay: a 2-D layer over each view (viewports/overlayLayer.js), re-drawn
  // right after Cornerstone draws the view (same task, so the same frame) and on its own when
  // only the overlay's display changes.
  const layers = Object.fromEntries(planes.map((plane) => [plane, createOverlayLayer(elements[plane], () => viewport(plane))]));
  planes.forEach((plane) => elements[plane].addEventListener(Enums.Events.IMAGE_RENDERED, () => layers[plane].draw()));
  let overlayMap = null;

  const controller = {
    volume,
    /** Shows `map` (from data/maps.js) over the CT in every view, replacing the previous one. */
    setOverlay(map) {
      overlayMap = { ...map, id: `${map.kind}-${map.resultId ?? ''}` };
      planes.forEach((plane) => {
        layers[plane].setMap(overlayMap);
        layers[plane].draw();
      });
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
    setOverlayDisplay(display) {
      planes.forEach((plane) => {
        layers[plane].setDisplay(display);
        layers[plane].draw();
      });
    },
    /** Moves the crosshairs (and every view's slice) to patient point `lps`. */
    jumpTo(lps) {
      const crosshairs = group.getToolInstance(CrosshairsTool.toolName);
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
    },
    setMode(nextMode) {
      const tool = MODE_TOOL[nextMode];
      if (!tool || tool === primaryTool) {
        return;
      }
      if (primaryTool) {
        group.setToolPassive(primaryTool);
      }
      group.setToolActive(tool, { bindings: [{ mouseButton: MouseBindings.Primary }] });
      primaryTool = tool;
    },
    reset() {
      planes.forEach((plane) => viewport(plane).resetCamera({ resetPan: true, resetZoom: true, resetToCenter: true }));
      engine.renderViewports(planes);
      const crosshairs = group.getToolInstance(CrosshairsTool.toolName);
      crosshairs?.computeToolCenter?.();
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
