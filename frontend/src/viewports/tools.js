/**
 * The views' tools: wheel scrolls, right drag zooms, middle drag pans; the left button is the
 * chosen mode (crosshairs, window/level, pan, zoom). Window/level is kept in step across views.
 */
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

export const TOOL_GROUP_ID = 'fusionscreen-mpr';
const VOI_SYNC_ID = 'fusionscreen-voi';
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
});

let toolsRegistered = false;

export function registerTools() {
  if (!toolsRegistered) {
    [CrosshairsTool, WindowLevelTool, PanTool, ZoomTool, StackScrollTool].forEach(addTool);
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
  group.setToolPassive(CrosshairsTool.toolName);
  const voiSync = synchronizers.createVOISynchronizer(VOI_SYNC_ID, { syncInvertState: false, syncColormap: false });
  planes.forEach((plane) => voiSync.add({ renderingEngineId: engineId, viewportId: plane }));

  let primaryTool = null;
  return {
    group,
    crosshairs: () => group.getToolInstance(CrosshairsTool.toolName),
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
