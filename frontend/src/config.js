/**
 * The page's configuration, written by the Django template as JSON (#viewer-config):
 * { studyId, studyInstanceUID, dicomwebRoot, loginUrl, resultUrl, mapUrlTemplate }.
 */
export function readConfig(doc = document) {
  const node = doc.getElementById('viewer-config');
  if (!node) {
    throw new Error('The page has no viewer configuration (#viewer-config).');
  }
  return Object.freeze(JSON.parse(node.textContent));
}
