/**
 * The radiologist's read of a worklist item (the viewer opened with ?item=<id>): verdict, lesion
 * marks placed in the views (LPS mm), comment, reading time; submitted to the worklist API.
 * Reopening an item you read shows that read; changing it and giving a reason amends it (the
 * server keeps every version).
 *
 *   status   off (no item) | loading | ready | submitting | submitted | error (could not load)
 *   canRead  false when the server refused to start the item (not assigned to you, …)
 *   message  the server's words when it refused something, else ''
 *   item     the item (scores, position, previous / next ids) or null
 *   existing your current read of the item (the server's), or null
 *   verdict  null | 'normal' | 'abnormal' | 'uncertain'
 *   marks    [{ center_lps_mm: [x, y, z], diameter_mm: number | null }]
 *   marking  true while clicks in the views place marks
 */
import { fetchItem, startItem, submitRead } from '../data/worklist.js';
import { createStore } from '../state/store.js';

export const VERDICTS = Object.freeze({ normal: 'Normal', abnormal: 'Abnormal', uncertain: 'Uncertain' });

export function createReadForm() {
  const store = createStore({
    status: 'off',
    canRead: false,
    message: '',
    item: null,
    existing: null,
    verdict: null,
    comment: '',
    marks: [],
    marking: false,
    amendReason: '',
    dirty: false, // changed since opened or saved
    leaving: false, // asked to leave with unsaved changes once: the next ask leaves
    openedAt: performance.now(),
  });

  const fromRead = (read) => ({
    verdict: read?.verdict ?? null,
    comment: read?.comment ?? '',
    marks: (read?.lesion_marks ?? []).map((m) => ({
      center_lps_mm: [...m.center_lps_mm],
      diameter_mm: m.diameter_mm ?? null,
    })),
  });

  // Changing a saved read starts an amendment: the form is editable again, the confirmation goes.
  const edit = (patch) =>
    store.set({ ...patch, dirty: true, leaving: false, ...(store.get().status === 'submitted' ? { status: 'ready' } : {}) });

  const actions = {
    /** Loads the item and starts it (the server's reading clock; unread becomes in progress). */
    async open(config, itemId) {
      store.set({ status: 'loading', message: '', openedAt: performance.now() });
      let item;
      try {
        item = await fetchItem(config, itemId);
      } catch (err) {
        const message =
          err.status === 404 ? 'This worklist item does not exist or is not on a worklist of yours.' : err.message;
        store.set({ status: 'error', message });
        return;
      }
      store.set({ item, existing: item.my_read ?? null, ...fromRead(item.my_read) });
      try {
        await startItem(config, itemId);
        store.set({ status: 'ready', canRead: true });
      } catch (err) {
        // Not assigned to you, not a reader's role, …: the item is shown, the form is not usable.
        const why = err.status === 403 ? ' Only the radiologists this worklist is assigned to can record a read.' : '';
        store.set({ status: 'ready', canRead: false, message: `${err.message}${why}` });
      }
    },
    setVerdict: (verdict) => edit({ verdict }),
    setComment: (comment) => edit({ comment }),
    setAmendReason: (amendReason) => edit({ amendReason }),
    /** True when leaving now is fine; with unsaved changes, says so once and returns false. */
    mayLeave() {
      const { dirty, leaving, canRead } = store.get();
      if (!dirty || !canRead || leaving) {
        return true;
      }
      store.set({
        leaving: true,
        message: 'Your read is not submitted: submit it (Ctrl+Enter), or go to the other item again to leave it unsaved.',
      });
      return false;
    },
    setMarking: (marking) => store.set({ marking: Boolean(marking) && store.get().canRead }),
    toggleMarking: () => actions.setMarking(!store.get().marking),
    addMark(lps) {
      const center = lps.map((v) => Math.round(v * 100) / 100);
      edit({ marks: [...store.get().marks, { center_lps_mm: center, diameter_mm: null }] });
    },
    removeMark: (index) => edit({ marks: store.get().marks.filter((_, i) => i !== index) }),
    // The reader's measured diameter of a marked lesion (mm), or null when left empty.
    setMarkDiameter(index, value) {
      const number = Number(value);
      const diameter = value === '' || !Number.isFinite(number) || number <= 0 ? null : Math.round(number * 10) / 10;
      edit({ marks: store.get().marks.map((m, i) => (i === index ? { ...m, diameter_mm: diameter } : m)) });
    },
    /**
     * Sends the read. `point` is the operating point in use ({operating_point, threshold?});
     * `resultId` the detection result the viewer showed, when it showed one.
     */
    async submit(config, point, resultId) {
      const state = store.get();
      if (!state.item || !state.canRead || state.status === 'submitting') {
        return;
      }
      if (!state.verdict) {
        store.set({ message: 'Choose a verdict (normal, abnormal or uncertain) before submitting.' });
        return;
      }
      if (state.existing && !state.amendReason.trim()) {
        store.set({ message: 'You read this item already: give a reason for the amendment, then submit.' });
        return;
      }
      store.set({ status: 'submitting', message: '', marking: false });
      const body = {
        verdict: state.verdict,
        lesion_marks: state.marks.map((m) => ({ center_lps_mm: m.center_lps_mm, diameter_mm: m.diameter_mm ?? null })),
        comment: state.comment,
        reading_seconds: Math.round((performance.now() - state.openedAt) / 100) / 10,
        ...point,
        result: resultId ?? null,
        amend_reason: state.existing ? state.amendReason.trim() : '',
      };
      try {
        const read = await submitRead(config, state.item.id, body);
        store.set({ status: 'submitted', existing: read, amendReason: '', dirty: false, ...fromRead(read) });
      } catch (err) {
        store.set({ status: 'ready', message: err.message });
      }
    },
  };
  return { ...store, actions };
}

/** The operating point to record with the read, from the viewer's operating-point state. */
export function readOperatingPoint(op, defaultPoint = 'balanced') {
  if (op.status !== 'ready') {
    return { operating_point: defaultPoint }; // no calibration: the server records no threshold
  }
  if (op.preset) {
    return { operating_point: op.preset };
  }
  const point = op.points[op.index];
  return point ? { operating_point: 'custom', threshold: point.threshold } : { operating_point: defaultPoint };
}
