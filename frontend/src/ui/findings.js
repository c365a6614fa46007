/**
 * The findings list: each finding as a CAD mark reads (lung and zone, axial slice, size, how
 * it compares with the calibration's normal studies, whether the operating point in use flags
 * it), the detector's strongest peak first; the chosen one highlighted. Clicking one selects it (the controller
 * moves the views there); J / K step through them.
 */
import { isFlagged, strengthText, zoneText } from '../state/findings.js';

export function renderFindings(root, state, { message = '', threshold = null, nNormals = 0, select = null } = {}) {
  if (!root) {
    return;
  }
  const note = root.querySelector('[data-findings=message]');
  const list = root.querySelector('[data-findings=list]');
  list.replaceChildren();
  if (!state) {
    note.textContent = message || 'No detection result yet.';
    return;
  }
  const { items, selected, slices } = state;
  note.textContent = items.length
    ? 'Strongest peak first. Click one, or step with J / K, to move the views there.'
    : 'The model reports no findings.';
  items.forEach((finding, index) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'vw-finding';
    button.dataset.finding = String(index);
    button.dataset.lps = JSON.stringify(finding.lps);
    const flagged = isFlagged(finding, threshold);
    button.dataset.flagged = flagged === null ? 'unknown' : String(flagged);
    if (index === selected) {
      button.setAttribute('aria-current', 'true');
    }
    const title = document.createElement('span');
    title.className = 'vw-finding-title';
    title.textContent = `${finding.n}. ${zoneText(finding)}`;
    const badge = document.createElement('span');
    badge.className = 'vw-finding-badge';
    badge.textContent = flagged === null ? '' : flagged ? 'flagged' : 'below the point';
    title.append(badge);
    const facts = document.createElement('span');
    facts.className = 'vw-finding-facts';
    const where = slices[index] ? `axial slice ${slices[index]}` : 'axial slice –';
    const size = finding.sizeMm ? `${Math.round(finding.sizeMm)} mm` : 'size –';
    facts.textContent = `${where} · ${size} · ${strengthText(finding, nNormals)}`;
    button.append(title, facts);
    button.addEventListener('click', () => select?.(index));
    item.append(button);
    list.append(item);
  });
}

/**
 * The chosen finding marked in every view whose slice passes within `onSliceMm` of it: a
 * square bracket around it, labelled with its number.
 */
export function renderFindingMark(doc, finding, number, views, onSliceMm = 5) {
  for (const plane of views?.planes ?? []) {
    const layer = doc.querySelector(`[data-finding-mark="${plane}"]`);
    if (!layer) {
      continue;
    }
    if (!finding || Math.abs(views.distanceToSlice(plane, finding.lps)) > onSliceMm) {
      layer.replaceChildren();
      continue;
    }
    const [x, y] = views.worldToCanvas(plane, finding.lps);
    const box = doc.createElement('div');
    box.className = 'vw-finding-mark';
    box.style.left = `${x}px`;
    box.style.top = `${y}px`;
    box.textContent = `F${number}`;
    layer.replaceChildren(box);
  }
}
