import { createStore } from './store.js';
import { DEFAULT_PRESET, PRESETS, matchPreset } from './presets.js';

export const PLANES = ['axial', 'coronal', 'sagittal'];
export const SLABS_MM = [0, 5, 10, 20];
export const LAYOUTS = ['1+2', '1x3', '1x1', '2x2'];

/** The entry after `current` in `list`, wrapping round. */
export function nextOf(list, current) {
  return list[(list.indexOf(current) + 1) % list.length];
}

/**
 * What the viewer shows, as data: loading phase, window, left-button tool, and per plane the
 * slice on screen. Cornerstone events and UI actions both go through the actions below.
 */
export function createViewerState() {
  const store = createStore({
    phase: 'loading', // loading | ready | error
    error: null, // ViewerError while phase === 'error'
    progress: { loaded: 0, total: 0, failed: 0 },
    preview: false, // the middle axial slice is on screen (viewports/preview.js) while loading
    series: null, // { seriesInstanceUID, description, slices }
    preset: DEFAULT_PRESET,
    voi: { window: PRESETS[DEFAULT_PRESET].window, level: PRESETS[DEFAULT_PRESET].level },
    mode: 'crosshairs', // the left button's tool: crosshairs | windowLevel | pan | zoom | length | roi
    slabMm: 0, // maximum-intensity slab thickness (0: the plain slice)
    layout: '1+2', // 1+2 (axial large) | 1x3 | 1x1 | 2x2 (the three and an axial MIP slab)
    single: 'axial', // the view a 1 x 1 layout shows
    linkZoom: false, // zoom all views together
    slices: Object.fromEntries(PLANES.map((p) => [p, null])), // { index, count, positionMm }
    crosshairs: null, // [x, y, z] LPS mm
    cursor: null, // { lps: [x, y, z], value } under the mouse, or null
  });

  const actions = {
    loading: (progress) => store.set({ progress: { ...store.get().progress, ...progress } }),
    ready: () => store.set({ phase: 'ready' }),
    previewShown: () => store.set({ preview: true }),
    failed: (error) => store.set({ phase: 'error', error }),
    seriesChosen: (series) => store.set({ series }),
    choosePreset(name) {
      const preset = PRESETS[name];
      if (preset) {
        store.set({ preset: name, voi: { window: preset.window, level: preset.level } });
      }
    },
    // A window/level the user dragged to: kept as is, named when it equals a preset.
    voiChanged: (voi) => store.set({ voi, preset: matchPreset(voi) }),
    chooseMode: (mode) => store.set({ mode }),
    chooseSlab: (mm) => store.set({ slabMm: SLABS_MM.includes(mm) ? mm : 0 }),
    cycleSlab: () => store.set({ slabMm: nextOf(SLABS_MM, store.get().slabMm) }),
    chooseLayout: (layout, single = store.get().single) =>
      store.set({ layout: LAYOUTS.includes(layout) ? layout : '1+2', single: PLANES.includes(single) ? single : 'axial' }),
    cycleLayout: (single) => actions.chooseLayout(nextOf(LAYOUTS, store.get().layout), single),
    toggleLinkZoom: () => store.set({ linkZoom: !store.get().linkZoom }),
    sliceChanged: (plane, slice) => store.set({ slices: { ...store.get().slices, [plane]: slice } }),
    crosshairsMoved: (lps) => store.set({ crosshairs: lps }),
    cursorMoved: (cursor) => store.set({ cursor }),
  };
  return { ...store, actions };
}
