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
  return createStore({
    status: 'loading', // loading | ready | none
    message: 'Loading the calibration…',
    calibration: null,
    points: [], // the fused ROC's finite thresholds, highest first
    preset: 'balanced',
    index: 0, // into points, when preset is null (custom)
    fusedScore: null, // this study's fused score, when it has a result
  });
}
