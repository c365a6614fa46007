/**
 * Text read-outs: slice number and position per view, crosshair and cursor position in patient
 * LPS millimetres, the value under the cursor, window/level and the series shown.
 */
import { PRESETS } from '../state/presets.js';

export function formatMm(value) {
  return `${value >= 0 ? '' : '−'}${Math.abs(value).toFixed(1)}`;
}

export function formatLps(lps) {
  return lps ? lps.map(formatMm).join(', ') : '–';
}

export function renderReadouts(doc, state) {
  for (const [plane, slice] of Object.entries(state.slices)) {
    const node = doc.querySelector(`[data-readout="${plane}"]`);
    if (node) {
      node.textContent = slice
        ? `${slice.index + 1} / ${slice.count} · ${slice.axis} ${formatMm(slice.positionMm)} mm`
        : '–';
    }
    if (slice?.orientation) {
      for (const [side, letters] of Object.entries(slice.orientation)) {
        const marker = doc.querySelector(`[data-pane="${plane}"] .vw-marker--${side}`);
        if (marker) {
          marker.textContent = letters;
        }
      }
    }
  }
  const set = (name, text) => {
    const node = doc.querySelector(`[data-readout="${name}"]`);
    if (node) {
      node.textContent = text;
    }
  };
  set('crosshairs', formatLps(state.crosshairs));
  set('cursor', state.cursor ? formatLps(state.cursor.lps) : '–');
  set('hu', state.cursor && state.cursor.value !== null ? `${Math.round(state.cursor.value)} HU` : '–');
  const presetName = state.preset ? ` (${PRESETS[state.preset].label})` : '';
  set('voi', `W ${Math.round(state.voi.window)} / L ${Math.round(state.voi.level)}${presetName}`);
  set(
    'series',
    state.series ? `${state.series.description || 'CT'} · ${state.progress.total || state.series.slices} images` : '–',
  );
}
