/**
 * A minimal one-way store: actions call set(), subscribers render from the state they get.
 * Rendering never writes back into the state it was given.
 */
export function createStore(initial) {
  let state = Object.freeze({ ...initial });
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      const next = Object.freeze({ ...state, ...patch });
      const changed = Object.keys(patch).some((key) => next[key] !== state[key]);
      if (!changed) {
        return;
      }
      const previous = state;
      state = next;
      listeners.forEach((listener) => listener(state, previous));
    },
    subscribe(listener) {
      listeners.add(listener);
      listener(state, null);
      return () => listeners.delete(listener);
    },
  };
}
