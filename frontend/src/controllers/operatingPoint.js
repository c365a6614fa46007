/**
 * The operating-point control: the latest calibration's ROC (one request, then all in the
 * browser), the site's named points (config.operatingPoints), the user's remembered choice.
 */
import { BLINDED_MESSAGE } from '../config.js';
import { fetchLatestCalibration } from '../data/calibration.js';
import { bindOperatingPoint, loadChoice, nearestIndex, renderOperatingPoint, rocPoints } from '../ui/operatingPoint.js';
import { renderOnNextFrame } from './frames.js';

export async function startOperatingPoint(doc, config, store) {
  store.subscribe(renderOnNextFrame(() => renderOperatingPoint(doc, store.get(), config.operatingPoints)));
  bindOperatingPoint(doc, store, config.user ?? '');
  if (config.blinded) {
    store.set({ status: 'none', message: BLINDED_MESSAGE });
    return;
  }
  const { calibration, message } = await fetchLatestCalibration(config);
  if (!calibration) {
    store.set({ status: 'none', message });
    return;
  }
  const points = rocPoints(calibration);
  const saved = loadChoice(config.user ?? '');
  let preset = saved ? saved.preset : config.defaultPoint;
  if (preset && !calibration.operating_points?.fused?.[preset]) {
    preset = null;
  }
  const threshold = preset ? calibration.operating_points.fused[preset].threshold : saved?.threshold;
  store.set({ status: 'ready', message: '', calibration, points, preset, index: nearestIndex(points, threshold) });
}
