import { createStore } from './store.js';

/**
 * The operating point (next step): a threshold on the fused score chosen over the active model's
 * calibration ROC, with named presets (high sensitivity, balanced, high specificity). Updated in
 * the browser only; the choice is remembered per user.
 *
 *   calibration  the ROC points { threshold, sensitivity, specificity }[] or null (none yet)
 *   preset       'high_sensitivity' | 'balanced' | 'high_specificity' | null (custom)
 *   threshold    the fused-score threshold in use, or null
 */
export function createOperatingPointState() {
  return createStore({ calibration: null, preset: 'balanced', threshold: null });
}
