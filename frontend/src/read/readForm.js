import { createStore } from '../state/store.js';

/**
 * The radiologist's read of this study (next step: the form, lesion marks from the viewports and
 * submission to the worklist API). verdict: null | 'normal' | 'abnormal'; marks: LPS mm points.
 */
export function createReadForm() {
  return createStore({ verdict: null, comment: '', marks: [], submitting: false, submittedAt: null });
}
