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
