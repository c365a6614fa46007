/**
 * Toolbar buttons -> viewer actions; button states render from state. (Keys: ui/shortcuts.js.)
 */

export function bindToolbar(doc, viewer, commands) {
  doc.querySelectorAll('[data-preset]').forEach((button) => {
    button.addEventListener('click', () => viewer.actions.choosePreset(button.dataset.preset));
  });
  doc.querySelectorAll('[data-mode]').forEach((button) => {
    button.addEventListener('click', () => viewer.actions.chooseMode(button.dataset.mode));
  });
  doc.querySelector('[data-action=reset]')?.addEventListener('click', () => commands.reset());
  doc.querySelector('[data-action=clear-measurements]')?.addEventListener('click', () => commands.clearMeasurements());
  doc.querySelector('[data-view=slab]')?.addEventListener('change', (evt) => viewer.actions.chooseSlab(Number(evt.target.value)));
  doc.querySelector('[data-view=layout]')?.addEventListener('change', (evt) =>
    viewer.actions.chooseLayout(evt.target.value, commands.activePlane()),
  );
  doc.querySelector('[data-view=link-zoom]')?.addEventListener('click', () => viewer.actions.toggleLinkZoom());
}

export function renderToolbar(doc, state) {
  doc.querySelectorAll('[data-preset]').forEach((button) => {
    button.setAttribute('aria-pressed', String(button.dataset.preset === state.preset));
    button.disabled = state.phase !== 'ready';
  });
  doc.querySelectorAll('[data-mode]').forEach((button) => {
    button.setAttribute('aria-pressed', String(button.dataset.mode === state.mode));
    button.disabled = state.phase !== 'ready';
  });
  const ready = state.phase === 'ready';
  doc.querySelectorAll('[data-action=reset], [data-action=clear-measurements], [data-view]').forEach((control) => {
    control.disabled = !ready;
  });
  const slab = doc.querySelector('[data-view=slab]');
  if (slab && Number(slab.value) !== state.slabMm) {
    slab.value = String(state.slabMm);
  }
  const layout = doc.querySelector('[data-view=layout]');
  if (layout && layout.value !== state.layout) {
    layout.value = state.layout;
  }
  doc.querySelector('[data-view=link-zoom]')?.setAttribute('aria-pressed', String(state.linkZoom));
  const grid = doc.querySelector('.vw-grid');
  if (grid) {
    grid.dataset.layout = state.layout;
    grid.dataset.single = state.single;
  }
}
