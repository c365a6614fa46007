import { createStore } from './store.js';
import { DEFAULT_PRESET, PRESETS, matchPreset } from './presets.js';

export const PLANES = ['axial', 'coronal', 'sagittal'];

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
    mode: 'crosshairs', // the left mouse button's tool: crosshairs | windowLevel | pan | zoom
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
    sliceChanged: (plane, slice) => store.set({ slices: { ...store.get().slices, [plane]: slice } }),
    crosshairsMoved: (lps) => store.set({ crosshairs: lps }),
    cursorMoved: (cursor) => store.set({ cursor }),
  };
  return { ...store, actions };
}
