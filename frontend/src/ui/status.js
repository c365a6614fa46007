/**
 * The loading / error overlay over the viewports: what is happening, how far along, and what
 * to do when it failed. Renders from the viewer state.
 */
export function renderStatus(root, state) {
  const title = root.querySelector('[data-role=status-title]');
  const detail = root.querySelector('[data-role=status-detail]');
  const bar = root.querySelector('[data-role=status-progress]');
  const actions = root.querySelector('[data-role=status-actions]');
  root.dataset.state = state.phase;
  if (state.phase === 'error') {
    title.textContent = state.error.title;
    detail.textContent = state.error.detail;
    actions.replaceChildren();
    if (state.error.action) {
      const link = document.createElement('a');
      link.href = state.error.action.href;
      link.textContent = state.error.action.label;
      link.className = 'vw-button';
      actions.append(link);
    }
    return;
  }
  const { loaded, total, failed } = state.progress;
  if (state.phase === 'loading') {
    title.textContent = total ? 'Loading the CT…' : 'Reading the study…';
    detail.textContent = total ? `${loaded} of ${total} slices` : '';
  }
  bar.style.width = total ? `${Math.round((100 * loaded) / total)}%` : '0%';
  root.dataset.partial = String(state.phase === 'ready' && loaded < total);
  // A preview of the middle slice is on screen: the message moves out of its way.
  root.dataset.preview = String(state.phase === 'loading' && state.preview);
  if (failed) {
    detail.textContent = `${failed} slice(s) failed to load; the views show the rest.`;
  }
}
