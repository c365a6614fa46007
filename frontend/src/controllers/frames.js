/** Rendering on the next animation frame: many state changes, one draw. */
export function renderOnNextFrame(render) {
  let pending = 0;
  return () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(render);
  };
}
