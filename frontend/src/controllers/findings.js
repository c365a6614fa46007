/**
 * The findings of the result shown: the list (ui/findings.js), the chosen finding marked in the
 * views, J / K to step through them, and where the viewer opens: at the strongest finding when
 * the study is positive at the operating point in use.
 */
import { describeFindings, openingFinding, steppedSelection } from '../state/findings.js';
import { renderFindingMark, renderFindings } from '../ui/findings.js';
import { currentPoint } from '../ui/operatingPoint.js';
import { renderOnNextFrame } from './frames.js';

export function startFindings(doc, mpr, { findings, operatingPoint, viewer }) {
  const root = doc.querySelector('[data-panel=findings]');
  let message = '';
  let result = null;
  let opened = false;

  const threshold = () => currentPoint(operatingPoint.get())?.threshold ?? null;
  const select = (index) => {
    const item = findings.get().items[index];
    if (item) {
      findings.set({ selected: index });
      mpr.jumpTo([...item.lps]);
    }
  };
  const draw = renderOnNextFrame(() => {
    renderFindings(root, result ? findings.get() : null, {
      message,
      threshold: threshold(),
      nNormals: result?.interpretation?.n_calibration_normals ?? 0,
      select,
    });
    const { items, selected } = findings.get();
    renderFindingMark(doc, selected === null ? null : items[selected], (selected ?? 0) + 1, mpr);
  });
  findings.subscribe(draw);
  operatingPoint.subscribe(draw);
  viewer.subscribe(draw); // the mark follows the views' slices and cameras

  // Open at the strongest finding of a positive study, once: when both the result and the
  // operating point are known (the calibration may arrive before or after the result).
  const openOnce = () => {
    const op = operatingPoint.get();
    if (opened || !result || op.status === 'loading') {
      return;
    }
    opened = true;
    const index = openingFinding(findings.get().items, result.fused_score, threshold());
    if (index !== null) {
      select(index);
    }
  };
  operatingPoint.subscribe(openOnce);

  return {
    showMessage(text) {
      message = text;
      result = null;
      draw();
    },
    showResult(next) {
      result = next;
      const items = describeFindings(next);
      const slices = Object.fromEntries(items.map((f, i) => [i, mpr.sliceNumberAt('axial', f.lps)]));
      findings.set({ items, selected: null, slices });
      openOnce();
    },
    step(delta) {
      const { selected, items } = findings.get();
      const next = steppedSelection(selected, items.length, delta);
      if (next !== null) {
        select(next);
      }
    },
  };
}
