/**
 * Lesion marks drawn over the views: a numbered ring where a mark lies on (within half a
 * slab of) the slice a view shows, nothing elsewhere. Re-drawn when the marks or a view's
 * camera change. Mark mode: a left click in any view adds a mark at the clicked patient point.
 */
const ON_SLICE_MM = 2.5;

export function renderMarks(doc, marks, views) {
  if (!views) {
    return;
  }
  for (const plane of views.planes) {
    const layer = doc.querySelector(`[data-marks="${plane}"]`);
    if (!layer) {
      continue;
    }
    layer.replaceChildren(
      ...marks.flatMap((m, index) => {
        if (Math.abs(views.distanceToSlice(plane, m.center_lps_mm)) > ON_SLICE_MM) {
          return [];
        }
        const [x, y] = views.worldToCanvas(plane, m.center_lps_mm);
        const ring = doc.createElement('div');
        ring.className = 'vw-mark';
        ring.style.left = `${x}px`;
        ring.style.top = `${y}px`;
        ring.textContent = String(index + 1);
        ring.dataset.mark = String(index);
        return [ring];
      }),
    );
  }
}

/**
 * While `isMarking()`, a left press in a view adds a mark there and does not reach the
 * Cornerstone tools (the capture listener on the view's element runs before theirs).
 */
export function bindMarkClicks(elements, views, isMarking, addMark) {
  for (const [plane, element] of Object.entries(elements)) {
    element.addEventListener(
      'mousedown',
      (evt) => {
        if (evt.button !== 0 || !isMarking()) {
          return;
        }
        evt.stopPropagation();
        evt.preventDefault();
        const rect = element.getBoundingClientRect();
        addMark(views.canvasToWorld(plane, [evt.clientX - rect.left, evt.clientY - rect.top]), plane);
      },
      { capture: true },
    );
  }
}
