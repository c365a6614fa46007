import { fetchAnomalyMap, fetchDetectionState, fetchResult } from '../data/maps.js';
import { defaultThreshold } from '../state/overlay.js';
import { timings } from '../timings.js';
import { regionLevel } from '../state/findings.js';
import { currentPoint } from '../ui/operatingPoint.js';
import { COLORMAPS } from '../ui/overlayPanel.js';

/**
 * The detection result and its maps: the fused map over the CT by default, the findings list.
 * Without a result, why: still processing (with progress; polled until it finishes), the job
 * failed (its error), or no detection yet.
 */
const PROCESSING_POLL_MS = 3000;

export async function startOverlay(doc, config, mpr, { overlay, operatingPoint, session, findings }) {
  let result;
  try {
    result = await fetchResult(config);
  } catch (err) {
    if (err.status === 404) {
      let state = null;
      try {
        state = await fetchDetectionState(config);
      } catch {
        /* fall back to the result endpoint's reason */
      }
      if (state === null) {
        const detail = err.detail ? err.detail.charAt(0).toUpperCase() + err.detail.slice(1) : '';
        state = { status: 'none', message: `${detail}.`, progress: null };
      }
      overlay.set(state);
      findings.showMessage(state.message);
      if (state.status === 'processing') {
        setTimeout(() => startOverlay(doc, config, mpr, { overlay, operatingPoint, session, findings }), PROCESSING_POLL_MS);
      }
      return;
    }
    const message = err.title ? `${err.title}: ${err.detail}` : String(err);
    overlay.set({ status: 'error', message, progress: null });
    findings.showMessage(message);
    return;
  }
  session.result = result;
  operatingPoint.set({ fusedScore: result.fused_score });
  findings.showResult(result);
  overlay.set({ status: 'loading', message: 'Loading the anomaly map…', progress: null });
  const maps = new Map();
  const mapOf = (kind) => {
    if (!maps.has(kind)) {
      maps.set(kind, fetchAnomalyMap(config, kind).then((map) => ({ ...map, resultId: result.id })));
    }
    return maps.get(kind);
  };
  showOperatingPointRegion(doc, result, mpr, operatingPoint, overlay, mapOf);
  let shown = null;
  // Threshold re-render times (ms from the change to the frame that shows it in every view),
  // for the browser test's benchmark and for people profiling.
  const updates = [];
  timings.overlayUpdatesMs = updates;
  // Of which: re-colouring and drawing the three overlay canvases (JavaScript).
  const applyTimes = [];
  timings.overlayApplyMs = applyTimes;
  const show = async (state, previous) => {
    const { kind } = state;
    if (shown !== kind) {
      shown = kind;
      try {
        const map = await mapOf(kind);
        if (shown !== kind) {
          return;
        }
        mpr.setOverlay(map);
        const range = { min: map.min, max: map.max };
        const threshold = overlay.get().range && overlay.get().kind === kind && state.range?.min === range.min
          ? overlay.get().threshold
          : defaultThreshold(range);
        overlay.set({ status: 'ready', message: '', available: true, range, threshold });
      } catch (err) {
        maps.delete(kind);
        shown = null;
        overlay.set({ status: 'error', message: err.detail ?? String(err) });
        return;
      }
    }
    const current = overlay.get();
    if (current.status !== 'ready') {
      return;
    }
    const t0 = performance.now();
    mpr.setOverlayDisplay({
      colormap: COLORMAPS[current.colormap] ?? COLORMAPS.inferno,
      opacity: current.visible ? current.opacity : 0,
      lower: current.threshold ?? current.range.min,
      upper: current.range.max,
    });
    if (previous && previous.status === 'ready' && current.threshold !== previous.threshold) {
      // Drawn on the views' overlay canvases now; on screen with the next frame. Counted up to
      // the animation frame after that one, which the browser starts only once the frame with
      // the change has been produced (a busy software compositor delays it).
      const drawn = performance.now();
      const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())));
      await nextFrame();
      const shown = await nextFrame();
      updates.push(Math.round((shown - t0) * 10) / 10);
      applyTimes.push(Math.round((drawn - t0) * 10) / 10);
    }
  };
  overlay.subscribe((state, previous) => {
    if (
      !previous ||
      state.kind !== previous.kind ||
      state.opacity !== previous.opacity ||
      state.visible !== previous.visible ||
      state.threshold !== previous.threshold ||
      state.colormap !== previous.colormap ||
      (state.status === 'ready' && previous.status !== 'ready')
    ) {
      show(state, previous);
    }
  });
}

/**
 * The operating point in the image: the local map's level at which the point in use flags the
 * study (result.interpretation.map_level_line: level = intercept + slope x fused threshold)
 * outlines the regions that point flags; the overlay is dimmed elsewhere. Models without a local
 * score map have no line, and the overlay is drawn as before.
 */
function showOperatingPointRegion(doc, result, mpr, operatingPoint, overlay, mapOf) {
  const note = doc.querySelector('[data-op=region]');
  const say = (text) => note && (note.textContent = text);
  const line = result.interpretation?.map_level_line;
  if (!line) {
    overlay.set({ regionLevel: null });
    say('This model has no local score map, so the point is not drawn in the views.');
    return;
  }
  let local = null;
  const update = () => {
    const point = currentPoint(operatingPoint.get());
    const drawn = regionLevel(line, point?.threshold);
    overlay.set({ regionLevel: drawn });
    mpr.setOverlayRegion(local && drawn !== null ? { map: local, level: drawn } : null);
    if (drawn !== null) {
      say(
        `Outlined in cyan in the views: what this point flags (local map ≥ ${drawn.toFixed(2)}); ` +
          'the overlay is dimmed elsewhere.',
      );
    } else if (point) {
      say('This point calls the study positive on its global score alone: no local region is outlined.');
    }
  };
  mapOf('local')
    .then((map) => {
      local = map;
      update();
    })
    .catch(() => overlay.set({ regionLevel: null }));
  operatingPoint.subscribe(update);
}
