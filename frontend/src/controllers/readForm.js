/**
 * The read form when the page was opened for a worklist item (?item=): loads and starts the
 * item, and returns what the card's buttons and the keys call (submit, go to the previous / next
 * item). The detection result being read and the views come from ``session``.
 */
import { itemViewerUrl } from '../data/worklist.js';
import { readOperatingPoint } from '../read/readForm.js';
import { bindReadPanel, renderReadPanel } from '../ui/readPanel.js';
import { renderOnNextFrame } from './frames.js';

export function startReadForm(doc, config, form, operatingPoint, session) {
  const submit = () =>
    form.actions.submit(config, readOperatingPoint(operatingPoint.get(), config.defaultPoint), session.result?.id);
  const go = (direction) => {
    const target = form.get().item?.[direction];
    if (target && form.actions.mayLeave()) {
      window.location.assign(itemViewerUrl(config, target));
    }
  };
  form.subscribe(renderOnNextFrame(() => renderReadPanel(doc, form.get())));
  // A blinded read: once submitted, the AI's result may be seen (the page loads it afresh).
  const reveal = doc.querySelector('[data-read=reveal]');
  if (config.blinded && reveal) {
    reveal.addEventListener('click', () => window.location.reload());
    form.subscribe((state) => (reveal.hidden = state.status !== 'submitted'));
  }
  bindReadPanel(doc, form, { submit, go, jumpTo: (lps) => session.views?.jumpTo(lps) });
  if (config.item && config.itemUrlTemplate) {
    form.actions.open(config, config.item);
  }
  return { submit, go };
}
