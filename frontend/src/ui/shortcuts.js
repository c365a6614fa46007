/**
 * Keyboard shortcuts, one table: the handler and the "?" help overlay both read it. Keys do
 * nothing while the focus is in a text field, except Ctrl+Enter (submit the read) and Escape.
 * The operating points' keys come from the page's configuration (config.operatingPoints: the
 * site names the points once), so they are added to the table rather than written here.
 */
export const SHORTCUTS = Object.freeze([
  { keys: ['L'], label: 'Lung window', command: 'lung' },
  { keys: ['T'], label: 'Soft-tissue (mediastinal) window', command: 'mediastinum' },
  { keys: ['C', 'W', 'P', 'Z'], label: 'Left button: crosshairs, window/level, pan, zoom', command: null },
  { keys: ['D', 'E'], label: 'Left button: measure a length (mm), an elliptical region (HU, area)', command: null },
  { keys: ['X'], label: 'Delete the measurements', command: 'clearMeasurements' },
  { keys: ['B'], label: 'Maximum-intensity slab: off → 5 → 10 → 20 mm', command: 'cycleSlab' },
  { keys: ['V'], label: 'Layout: 1 + 2 → 1 × 3 → 1 × 1 (the view under the mouse) → 2 × 2 (with an axial MIP slab)', command: 'cycleLayout' },
  { keys: ['R'], label: 'Reset zoom, pan and slices', command: 'reset' },
  { keys: ['↑', '↓'], label: 'Previous / next slice in the view under the mouse', command: null },
  { keys: ['O'], label: 'Anomaly overlay on / off', command: 'toggleOverlay' },
  { keys: ['S'], label: 'Overlay map: fused → global → local', command: 'cycleMap' },
  { keys: ['F', 'G'], label: 'Overlay map: fused, global', command: null },
  { keys: ['+', '−'], label: 'Display threshold up / down', command: null },
  { keys: ['J', 'K'], label: 'Next / previous finding (the views move there)', command: null },
  { keys: ['M'], label: 'Mark lesion mode (click in a view to place a mark)', command: 'toggleMarking' },
  { keys: ['N', ']'], label: 'Next worklist item', command: 'next' },
  { keys: ['Shift+N', '['], label: 'Previous worklist item', command: 'previous' },
  { keys: ['Ctrl+Enter'], label: 'Submit the read', command: 'submit' },
  { keys: ['?'], label: 'Show / hide this help', command: 'help' },
  { keys: ['Esc'], label: 'Close the help, leave mark mode', command: 'escape' },
]);

/** The key → [command, argument] map the handler uses. */
const KEYMAP = Object.freeze({
  l: ['lung'],
  t: ['mediastinum'],
  c: ['mode', 'crosshairs'],
  w: ['mode', 'windowLevel'],
  p: ['mode', 'pan'],
  z: ['mode', 'zoom'],
  d: ['mode', 'length'],
  e: ['mode', 'roi'],
  x: ['clearMeasurements'],
  b: ['cycleSlab'],
  v: ['cycleLayout'],
  r: ['reset'],
  ArrowUp: ['scroll', -1],
  ArrowDown: ['scroll', 1],
  o: ['toggleOverlay'],
  s: ['cycleMap'],
  f: ['map', 'fused'],
  g: ['map', 'global'],
  '+': ['threshold', 1],
  '=': ['threshold', 1],
  '-': ['threshold', -1],
  _: ['threshold', -1],
  j: ['nextFinding'],
  k: ['previousFinding'],
  m: ['toggleMarking'],
  n: ['next'],
  N: ['previous'],
  ']': ['next'],
  '[': ['previous'],
  '?': ['help'],
  Escape: ['escape'],
});

/** The help table with the operating points' row (after the display threshold's). */
export function shortcutsFor(points = []) {
  if (!points.length) {
    return SHORTCUTS;
  }
  const row = {
    keys: points.map((p) => p.key),
    label: `Operating point: ${points.map((p) => p.label.toLowerCase()).join(', ')}`,
    command: null,
  };
  const at = SHORTCUTS.findIndex((s) => s.label.startsWith('Display threshold')) + 1;
  return [...SHORTCUTS.slice(0, at), row, ...SHORTCUTS.slice(at)];
}

/** Which command a keydown means, or null. Exported for the tests. */
export function commandFor(evt, points = []) {
  if (evt.key === 'Enter' && (evt.ctrlKey || evt.metaKey)) {
    return ['submit'];
  }
  if (evt.ctrlKey || evt.metaKey || evt.altKey) {
    return null;
  }
  const typing = evt.target?.closest?.('input[type=text], input[type=number], input:not([type]), textarea, select');
  if (typing) {
    return evt.key === 'Escape' ? ['escape'] : null;
  }
  const point = points.find((p) => p.key === evt.key);
  if (point) {
    return ['operatingPoint', point.name];
  }
  const key = evt.key.length === 1 && evt.key !== 'N' ? evt.key.toLowerCase() : evt.key;
  return KEYMAP[key] ?? null;
}

export function bindShortcuts(doc, commands, points = []) {
  doc.addEventListener('keydown', (evt) => {
    const found = commandFor(evt, points);
    if (!found) {
      return;
    }
    const [name, arg] = found;
    const run = commands[name];
    if (!run) {
      return;
    }
    evt.preventDefault();
    run(arg);
  });
}

/** Fills the help overlay's table from SHORTCUTS and the operating points. */
export function renderHelp(doc, points = []) {
  const list = doc.querySelector('[data-help=list]');
  if (!list) {
    return;
  }
  list.replaceChildren(
    ...shortcutsFor(points).flatMap(({ keys, label }) => {
      const dt = doc.createElement('dt');
      keys.forEach((key, i) => {
        if (i) {
          dt.append(' ');
        }
        const kbd = doc.createElement('kbd');
        kbd.textContent = key;
        dt.append(kbd);
      });
      const dd = doc.createElement('dd');
      dd.textContent = label;
      return [dt, dd];
    }),
  );
}
