import { createStore } from './store.js';

/**
 * The operating point: a threshold on the fused score chosen over the active model's calibration
 * ROC, with the site's named presets (config.operatingPoints). Updated in the browser only; the
 * choice is remembered per user.
 *
 *   calibration  the ROC points { threshold, sensitivity, specificity }[] or null (none yet)
 *   preset       a named point's name (config.operatingPoints[].name) or null (custom)
 *   threshold    the fused-score threshold in use, or null
 */
export function createOperatingPointState() {
  return createStore({
    status: 'loading', // loading | ready | none
    message: 'Loading the calibration…',
    calibration: null,
    points: [], // the fused ROC's finite thresholds, highest first
    preset: null, // set from config.defaultPoint once the calibration is loaded
    index: 0, // into points, when preset is null (custom)
    fusedScore: null, // this study's fused score, when it has a result
  });
}
