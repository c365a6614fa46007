/**
 * Toolbar buttons and keyboard shortcuts -> viewer actions; button states render from state.
 */
const KEYS = Object.freeze({
  l: ['choosePreset', 'lung'],
  m: ['choosePreset', 'mediastinum'],
  c: ['chooseMode', 'crosshairs'],
  w: ['chooseMode', 'windowLevel'],
  p: ['chooseMode', 'pan'],
  z: ['chooseMode', 'zoom'],
});

export function bindToolbar(doc, viewer, commands) {
  doc.querySelectorAll('[data-preset]').forEach((button) => {
    button.addEventListener('click', () => viewer.actions.choosePreset(button.dataset.preset));
  });
  doc.querySelectorAll('[data-mode]').forEach((button) => {
    button.addEventListener('click', () => viewer.actions.chooseMode(button.dataset.mode));
  });
  doc.querySelector('[data-action=reset]')?.addEventListener('click', () => commands.reset());
  doc.addEventListener('keydown', (evt) => {
    if (evt.ctrlKey || evt.metaKey || evt.altKey || evt.target.closest?.('input, textarea, select')) {
      return;
    }
    const key = evt.key.toLowerCase();
    if (KEYS[key]) {
      const [action, arg] = KEYS[key];
      viewer.actions[action](arg);
    } else if (key === 'r') {
      commands.reset();
    } else if (evt.key === 'ArrowUp' || evt.key === 'ArrowDown') {
      commands.scroll(evt.key === 'ArrowUp' ? -1 : 1);
    } else {
      return;
    }
    evt.preventDefault();
  });
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
  const reset = doc.querySelector('[data-action=reset]');
  if (reset) {
    reset.disabled = state.phase !== 'ready';
  }
}
