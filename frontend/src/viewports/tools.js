/**
 * The views' tools: wheel scrolls, right drag zooms, middle drag pans; the left button is the
 * chosen mode (crosshairs, window/level, pan, zoom, or a measurement: length in mm, or an
 * elliptical region with its mean, spread and area). Window/level and zoom are kept in step
 * across views.
 */
import {
  CrosshairsTool,
  EllipticalROITool,
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  annotation,
  synchronizers,
} from '@cornerstonejs/tools';

export const TOOL_GROUP_ID = 'fusionscreen-mpr';
const VOI_SYNC_ID = 'fusionscreen-voi';
const ZOOM_SYNC_ID = 'fusionscreen-zoom';
const MEASUREMENTS = [LengthTool.toolName, EllipticalROITool.toolName];
const { MouseBindings } = ToolEnums;

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
  length: LengthTool.toolName,
  roi: EllipticalROITool.toolName,
});

let toolsRegistered = false;

export function registerTools() {
  if (!toolsRegistered) {
    [CrosshairsTool, WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, EllipticalROITool].forEach(addTool);
    toolsRegistered = true;
  }
}

/** The tool group over the views of ``engineId``; ``setMode`` switches the left button's tool. */
export function setUpTools(engineId, planes) {
  const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID) ?? ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
  planes.forEach((plane) => group.addViewport(plane, engineId));
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
  group.addTool(LengthTool.toolName);
  group.addTool(EllipticalROITool.toolName);
  group.setToolPassive(CrosshairsTool.toolName);
  // Measurements stay visible (and editable) whichever tool the left button has.
  group.setToolPassive(LengthTool.toolName);
  group.setToolPassive(EllipticalROITool.toolName);
  const voiSync = synchronizers.createVOISynchronizer(VOI_SYNC_ID, { syncInvertState: false, syncColormap: false });
  planes.forEach((plane) => voiSync.add({ renderingEngineId: engineId, viewportId: plane }));

  // Linked zoom (off until asked for): zoom only, never pan, between views of other orientations.
  const zoomSync = synchronizers.createZoomPanSynchronizer(ZOOM_SYNC_ID);
  let zoomLinked = false;

  let primaryTool = null;
  return {
    group,
    crosshairs: () => group.getToolInstance(CrosshairsTool.toolName),
    linkZoom(on) {
      if (on === zoomLinked) {
        return;
      }
      planes.forEach((plane) => {
        const id = { renderingEngineId: engineId, viewportId: plane };
        if (on) {
          zoomSync.add(id);
          zoomSync.setOptions(plane, { syncZoom: true, syncPan: false });
        } else {
          zoomSync.remove(id);
        }
      });
      zoomLinked = on;
    },
    /** Deletes every length and region drawn (the crosshairs stay). */
    clearMeasurements() {
      annotation.state
        .getAllAnnotations()
        .filter((a) => MEASUREMENTS.includes(a.metadata?.toolName))
        .forEach((a) => annotation.state.removeAnnotation(a.annotationUID));
    },
    setMode(mode) {
      const tool = MODE_TOOL[mode];
      if (!tool || tool === primaryTool) {
        return;
      }
      if (primaryTool) {
        group.setToolPassive(primaryTool);
      }
      group.setToolActive(tool, { bindings: [{ mouseButton: MouseBindings.Primary }] });
      primaryTool = tool;
    },
  };
}
