/**
 * The latest calibration of the active model (webapp/detection): its ROC and named operating
 * points, or why there is none.
 */
export async function fetchLatestCalibration(config) {
  if (!config.calibrationUrl) {
    return { calibration: null, message: 'This site has no calibrations.' };
  }
  try {
    const response = await fetch(config.calibrationUrl, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) {
      const message =
        response.status === 404
          ? 'No calibration yet: the fused score has no operating point until the model is calibrated.'
          : `The calibration could not be loaded (HTTP ${response.status}).`;
      return { calibration: null, message };
    }
    return { calibration: await response.json(), message: '' };
  } catch (err) {
    return { calibration: null, message: `The calibration could not be loaded (${err.message ?? err}).` };
  }
}
