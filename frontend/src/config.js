/**
 * The page's configuration, written by the Django template as JSON (#viewer-config); its keys
 * are webapp/viewer/views.py's ``config``: the study (studyId, studyInstanceUID), where to fetch
 * (dicomwebRoot, resultUrl, mapUrlTemplate, detectionStatusUrl, calibrationUrl, loginUrl), the
 * named operating points (operatingPoints: name, label, short, rule, key; defaultPoint), the
 * user (user, csrfToken), the read form (item, item*UrlTemplate) and ``blinded``: the reader has
 * not yet read this study in a blinded worklist, so the page shows nothing of the AI.
 */
export const BLINDED_MESSAGE =
  "Blinded read: the AI's overlay, findings and call are shown once you have submitted your read of this study.";

export function readConfig(doc = document) {
  const node = doc.getElementById('viewer-config');
  if (!node) {
    throw new Error('The page has no viewer configuration (#viewer-config).');
  }
  return Object.freeze(JSON.parse(node.textContent));
}
