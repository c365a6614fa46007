/**
 * The operating point: presets (the site's named points, config.operatingPoints) from the latest
 * calibration of the active model, and a slider over its fused-score ROC thresholds. Shows the
 * sensitivity and specificity at the chosen threshold and this study's call there. All in the
 * browser; the choice is remembered per user in localStorage.
 */
/** A named point's label, from the page's configuration (config.operatingPoints). */
export function presetLabel(points, name) {
  return points.find((p) => p.name === name)?.label ?? name;
}

/** The fused ROC as points { threshold, sensitivity, specificity }, highest threshold first. */
export function rocPoints(calibration) {
  const roc = calibration?.roc?.fused;
  if (!roc) {
    return [];
  }
  return roc.thresholds
    .map((threshold, i) => ({ threshold, sensitivity: roc.tpr[i], specificity: 1 - roc.fpr[i] }))
    .filter((p) => p.threshold !== null && Number.isFinite(p.threshold));
}

function storageKey(user) {
  return `fusionscreen.operatingPoint.${user}`;
}

export function loadChoice(user) {
  try {
    return JSON.parse(window.localStorage.getItem(storageKey(user)) ?? 'null');
  } catch {
    return null;
  }
}

export function saveChoice(user, choice) {
  try {
    window.localStorage.setItem(storageKey(user), JSON.stringify(choice));
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

/** The point in use: a named preset's, else the ROC point at the chosen index. */
export function currentPoint(state) {
  const { calibration, preset, index } = state;
  if (!calibration) {
    return null;
  }
  if (preset) {
    const p = calibration.operating_points?.fused?.[preset];
    return p ? { threshold: p.threshold, sensitivity: p.sensitivity, specificity: p.specificity } : null;
  }
  return state.points[index] ?? null;
}

function remember(store, user) {
  const { preset, index, points } = store.get();
  saveChoice(user, { preset, threshold: preset ? null : points[index]?.threshold ?? null });
}

/** Chooses a named operating point of the calibration (a button, or keys 1 / 2 / 3). */
export function choosePreset(store, preset, user) {
  const state = store.get();
  if (state.status !== 'ready' || !state.calibration?.operating_points?.fused?.[preset]) {
    return;
  }
  const t = state.calibration.operating_points.fused[preset].threshold;
  store.set({ preset, index: nearestIndex(state.points, t) });
  remember(store, user);
}

export function bindOperatingPoint(doc, store, user) {
  const root = doc.querySelector('[data-panel=operating-point]');
  if (!root) {
    return;
  }
  root.querySelectorAll('[data-op-preset]').forEach((button) => {
    button.addEventListener('click', () => choosePreset(store, button.dataset.opPreset, user));
  });
  // The slider runs from more sensitive (left: the lowest threshold) to more specific (right);
  // `points` run from the highest threshold down, so its value is counted from the right.
  root.querySelector('[data-op=slider]')?.addEventListener('input', (evt) => {
    store.set({ preset: null, index: Number(evt.target.max) - Number(evt.target.value) });
    remember(store, user);
  });
}

export function nearestIndex(points, threshold) {
  if (threshold === null || threshold === undefined || !points.length) {
    return 0;
  }
  let best = 0;
  points.forEach((p, i) => {
    if (Math.abs(p.threshold - threshold) < Math.abs(points[best].threshold - threshold)) {
      best = i;
    }
  });
  return best;
}

const pct = (v) => `${(100 * v).toFixed(1)}%`;
const interval = (ci) => (ci ? `(95% CI ${Math.round(100 * ci[0])}–${Math.round(100 * ci[1])}%)` : '');

export function renderOperatingPoint(doc, state, points = []) {
  const root = doc.querySelector('[data-panel=operating-point]');
  if (!root) {
    return;
  }
  const message = root.querySelector('[data-op=message]');
  const controls = root.querySelector('[data-op=controls]');
  root.dataset.state = state.status;
  message.textContent = state.message;
  message.hidden = state.status === 'ready';
  controls.hidden = state.status !== 'ready';
  if (state.status !== 'ready') {
    return;
  }
  root.querySelectorAll('[data-op-preset]').forEach((button) => {
    button.setAttribute('aria-pressed', String(button.dataset.opPreset === state.preset));
  });
  const slider = root.querySelector('[data-op=slider]');
  const last = Math.max(0, state.points.length - 1);
  slider.max = String(last);
  if (Number(slider.value) !== last - state.index) {
    slider.value = String(last - state.index);
  }
  const point = currentPoint(state);
  const set = (name, text) => {
    root.querySelector(`[data-op=${name}]`).textContent = text;
  };
  set('threshold', point ? point.threshold.toFixed(3) : '–');
  set('sensitivity', point ? pct(point.sensitivity) : '–');
  set('specificity', point ? pct(point.specificity) : '–');
  // 95 % intervals for the named points (from the calibration's counts); a point of the reader's
  // own on the slider has none.
  const intervals = state.preset ? state.calibration.trust?.intervals?.[state.preset] : null;
  set('sensitivity-ci', interval(intervals?.sensitivity_ci));
  set('specificity-ci', interval(intervals?.specificity_ci));
  const warning = root.querySelector('[data-op=warning]');
  const warnings = state.calibration.trust?.warnings ?? [];
  warning.textContent = warnings.join(' ');
  warning.hidden = warnings.length === 0;
  set('preset', state.preset ? presetLabel(points, state.preset) : 'Custom');
  const score = state.fusedScore;
  if (point && score !== null && score !== undefined) {
    const positive = score >= point.threshold;
    set('call', `${positive ? 'Positive' : 'Negative'} (fused score ${score.toFixed(3)})`);
    root.querySelector('[data-op=call]').dataset.call = positive ? 'positive' : 'negative';
  } else {
    set('call', 'No detection result for this study yet');
  }
}
