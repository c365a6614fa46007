/**
 * The anomaly overlay card: map kind (fused / global / local), opacity, display threshold and
 * a colorbar legend. Controls call overlay.set(); the card renders from the overlay state.
 */
// As drawn (viewports/overlayPixels.js): the colormap from its first quarter, fading in.
const GRADIENTS = Object.freeze({
  inferno: 'linear-gradient(to right, transparent, #57106e 20%, #932667 35%, #dd513a 65%, #fca50a 85%, #fcffa4)',
  jet: 'linear-gradient(to right, transparent, #08f 20%, #0ff 30%, #ff0 55%, #f00 85%, #800000)',
});

/** The colormaps offered, by the name Cornerstone (vtk.js presets) knows them by. */
// Inferno rather than hot: hot ends in white, which a bright nodule on a lung window hides.
export const COLORMAPS = Object.freeze({ inferno: 'Inferno (matplotlib)', jet: 'jet' });

function format(value) {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return '–';
  }
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 0.01 || abs >= 1000) ? value.toExponential(2) : value.toFixed(2);
}

export function bindOverlayPanel(doc, overlay) {
  const root = doc.querySelector('[data-panel=overlay]');
  if (!root) {
    return;
  }
  root.querySelectorAll('[data-overlay-kind]').forEach((button) => {
    button.addEventListener('click', () => overlay.set({ kind: button.dataset.overlayKind }));
  });
  root.querySelector('[data-overlay=visible]')?.addEventListener('change', (evt) => {
    overlay.set({ visible: evt.target.checked });
  });
  root.querySelector('[data-overlay=opacity]')?.addEventListener('input', (evt) => {
    overlay.set({ opacity: Number(evt.target.value) / 100 });
  });
  root.querySelector('[data-overlay=threshold]')?.addEventListener('input', (evt) => {
    const { range } = overlay.get();
    if (range) {
      overlay.set({ threshold: range.min + (Number(evt.target.value) / 1000) * (range.max - range.min) });
    }
  });
  root.querySelector('[data-overlay=colormap]')?.addEventListener('change', (evt) => {
    overlay.set({ colormap: evt.target.value });
  });
}

export function renderOverlayPanel(doc, state) {
  const root = doc.querySelector('[data-panel=overlay]');
  if (!root) {
    return;
  }
  root.dataset.state = state.status;
  const message = root.querySelector('[data-overlay=message]');
  const controls = root.querySelector('[data-overlay=controls]');
  message.textContent = state.status === 'ready' ? '' : state.message || 'Loading the anomaly map…';
  message.hidden = state.status === 'ready';
  controls.hidden = state.status !== 'ready';
  const progress = root.querySelector('[data-overlay=progress]');
  if (progress) {
    progress.hidden = state.status !== 'processing';
    progress.querySelector('div').style.width = `${Math.round(100 * (state.progress ?? 0))}%`;
  }
  const visible = root.querySelector('[data-overlay=visible]');
  if (visible) {
    visible.checked = state.visible;
  }
  root.querySelectorAll('[data-overlay-kind]').forEach((button) => {
    button.setAttribute('aria-pressed', String(button.dataset.overlayKind === state.kind));
  });
  const opacity = root.querySelector('[data-overlay=opacity]');
  if (opacity && Number(opacity.value) !== Math.round(state.opacity * 100)) {
    opacity.value = String(Math.round(state.opacity * 100));
  }
  root.querySelector('[data-overlay=opacity-value]').textContent = `${Math.round(state.opacity * 100)}%`;
  const threshold = root.querySelector('[data-overlay=threshold]');
  const { range } = state;
  if (threshold && range && state.threshold !== null) {
    const position = Math.round((1000 * (state.threshold - range.min)) / (range.max - range.min || 1));
    if (Number(threshold.value) !== position) {
      threshold.value = String(position);
    }
  }
  root.querySelector('[data-overlay=threshold-value]').textContent = format(state.threshold);
  const colormap = root.querySelector('[data-overlay=colormap]');
  if (colormap && colormap.value !== state.colormap) {
    colormap.value = state.colormap;
  }
  const bar = root.querySelector('[data-overlay=legend-bar]');
  bar.style.background = GRADIENTS[state.colormap] ?? GRADIENTS.inferno;
  root.querySelector('[data-overlay=legend-low]').textContent = format(state.threshold);
  root.querySelector('[data-overlay=legend-high]').textContent = format(range?.max);
  root.querySelector('[data-overlay=legend-kind]').textContent = `${state.kind} map`;
}
