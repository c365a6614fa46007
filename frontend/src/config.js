/**
 * The page's configuration, written by the Django template as JSON (#viewer-config); its keys
 * are webapp/viewer/views.py's ``config``: the study (studyId, studyInstanceUID), where to fetch
 * (dicomwebRoot, resultUrl, mapUrlTemplate, detectionStatusUrl, calibrationUrl, loginUrl), the
 * named operating points (operatingPoints: name, label, short, rule, key; defaultPoint), the
 * user (user, csrfToken) and the read form (item, item*UrlTemplate).
 */
export function readConfig(doc = document) {
  const node = doc.getElementById('viewer-config');
  if (!node) {
    throw new Error('The page has no viewer configuration (#viewer-config).');
  }
  return Object.freeze(JSON.parse(node.textContent));
}
