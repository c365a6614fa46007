/**
 * The result's peaks (position in LPS mm, value, extent), strongest first; clicking one moves
 * the crosshairs and all three views there.
 */
import { formatLps } from './readout.js';

export function renderFindings(root, peaks, message, jumpTo) {
  if (!root) {
    return;
  }
  const note = root.querySelector('[data-findings=message]');
  const list = root.querySelector('[data-findings=list]');
  list.replaceChildren();
  if (!peaks) {
    note.textContent = message || 'No detection result yet.';
    return;
  }
  note.textContent = peaks.length ? 'Click a finding to move the views there.' : 'The model reports no peaks.';
  [...peaks]
    .sort((a, b) => b.value - a.value)
    .forEach((peak, index) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.finding = String(index);
      button.dataset.lps = JSON.stringify(peak.center_lps_mm);
      const side = peak.side ? ` · ${peak.side}` : '';
      const extent = peak.extent_mm != null ? ` · ${Number(peak.extent_mm).toFixed(0)} mm` : '';
      button.textContent = `${formatLps(peak.center_lps_mm)} · value ${Number(peak.value).toFixed(2)}${extent}${side}`;
      button.addEventListener('click', () => jumpTo([...peak.center_lps_mm]));
      item.append(button);
      list.append(item);
    });
}
