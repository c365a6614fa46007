/**
 * The study viewer: reads the study through DICOMweb and shows the CT in three orthogonal views.
 *
 * Data flows one way: loaders and Cornerstone events call viewer actions, actions change the
 * state, renderers (status, toolbar, read-outs, the views' window and tool) draw from it.
 */
import './styles.css';
import { readConfig } from './config.js';
import { fetchSeriesMetadata, findCtSeries, registerSeriesImageIds } from './data/dicomweb.js';
import { asViewerError, httpError } from './errors.js';
import { createReadForm } from './read/readForm.js';
import { createOperatingPointState } from './state/operatingPoint.js';
import { fetchAnomalyMap, fetchResult } from './data/maps.js';
import { correctedOpacity, createOverlayState, defaultThreshold } from './state/overlay.js';
import { PLANES, createViewerState } from './state/viewerState.js';
import { mark, timings } from './timings.js';
import { renderFindings } from './ui/findings.js';
import {
  bindOperatingPoint,
  loadChoice,
  nearestIndex,
  renderOperatingPoint,
  rocPoints,
} from './ui/operatingPoint.js';
import { COLORMAPS, bindOverlayPanel, renderOverlayPanel } from './ui/overlayPanel.js';
import { renderReadouts } from './ui/readout.js';
import { renderStatus } from './ui/status.js';
import { bindToolbar, renderToolbar } from './ui/toolbar.js';
import { initCornerstone } from './viewports/cornerstone.js';
import { createMpr } from './viewports/mpr.js';

const FATAL_FRAME_STATUSES = new Set([401, 403, 404]);

function renderOnNextFrame(render) {
  let pending = 0;
  return () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(render);
  };
}

async function start() {
  const viewer = createViewerState();
  const overlay = createOverlayState();
  const operatingPoint = createOperatingPointState();
  // Read by the next steps (overlay controls, operating point, read form) and by the tests.
  window.fusionscreenViewer = {
    viewer,
    overlay,
    operatingPoint,
    readForm: createReadForm(),
    timings,
  };

  const statusRoot = document.querySelector('[data-role=status]');
  viewer.subscribe((state) => renderStatus(statusRoot, state));
  viewer.subscribe((state) => renderToolbar(document, state));
  viewer.subscribe(renderOnNextFrame(() => renderReadouts(document, viewer.get())));

  overlay.subscribe(renderOnNextFrame(() => renderOverlayPanel(document, overlay.get())));
  bindOverlayPanel(document, overlay);

  let mpr = null;
  let activePlane = 'axial';
  bindToolbar(document, viewer, {
    reset: () => mpr?.reset(),
    scroll: (delta) => mpr?.scroll(activePlane, delta),
  });

  let config = null;
  try {
    config = readConfig();
    startOperatingPoint(config, operatingPoint);
    mark('config');
    // The study's metadata comes over the network while Cornerstone starts.
    const seriesFound = findCtSeries(config);
    const metadataFetched = seriesFound.then((series) => fetchSeriesMetadata(config, series.seriesInstanceUID));
    [seriesFound, metadataFetched].forEach((p) => p.catch(() => {})); // handled where awaited
    await initCornerstone();
    mark('cornerstone');
    const series = await seriesFound;
    mark('series');
    viewer.actions.seriesChosen(series);
    const imageIds = registerSeriesImageIds(config, series.seriesInstanceUID, await metadataFetched);
    mark('metadata');
    viewer.actions.loading({ loaded: 0, total: imageIds.length });

    const elements = Object.fromEntries(
      PLANES.map((plane) => [plane, document.querySelector(`[data-viewport="${plane}"]`)]),
    );
    PLANES.forEach((plane) => elements[plane].addEventListener('pointerenter', () => (activePlane = plane)));
    const { voi, mode } = viewer.get();
    mpr = await createMpr({
      elements,
      imageIds,
      seriesInstanceUID: series.seriesInstanceUID,
      voi,
      mode,
      on: {
        slice: viewer.actions.sliceChanged,
        voi: viewer.actions.voiChanged,
        crosshairs: viewer.actions.crosshairsMoved,
        cursor: viewer.actions.cursorMoved,
        progress(progress) {
          if (progress.loaded) {
            mark('firstFrame');
          }
          viewer.actions.loading(progress);
        },
        loadFailed(status) {
          // Signed out or access withdrawn while loading: say so instead of showing holes.
          if (FATAL_FRAME_STATUSES.has(status)) {
            viewer.actions.failed(httpError(status, 'the CT images', config));
          }
        },
        firstImage() {
          mark('firstImage');
          if (viewer.get().phase === 'loading') {
            viewer.actions.ready();
          }
        },
        volumeLoaded() {
          mark('volumeLoaded');
          if (viewer.get().phase === 'loading') {
            viewer.actions.ready();
          }
        },
      },
    });
    mark('views');
    viewer.subscribe((state, previous) => {
      if (!previous || state.voi !== previous.voi) {
        mpr.setVoi(state.voi);
      }
      if (!previous || state.mode !== previous.mode) {
        mpr.setMode(state.mode);
      }
    });
    new ResizeObserver(() => mpr.resize()).observe(document.querySelector('.vw-grid'));
    window.fusionscreenViewer.views = {
      worldToCanvas: mpr.worldToCanvas,
      focalPoint: mpr.focalPoint,
      jumpTo: mpr.jumpTo,
      overlayProbe: mpr.overlayProbe,
    };
    startOverlay(config, mpr, overlay);
  } catch (err) {
    console.error(err);
    viewer.actions.failed(asViewerError(err));
  }
}

/** The latest calibration's ROC for the operating-point control (one request, then local). */
async function startOperatingPoint(config, store) {
  store.subscribe(renderOnNextFrame(() => renderOperatingPoint(document, store.get())));
  bindOperatingPoint(document, store, config.user ?? '');
  if (!config.calibrationUrl) {
    store.set({ status: 'none', message: 'This site has no calibrations.' });
    return;
  }
  try {
    const response = await fetch(config.calibrationUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!response.ok) {
      store.set({
        status: 'none',
        message:
          response.status === 404
            ? 'No calibration yet: the fused score has no operating point until the model is calibrated.'
            : `The calibration could not be loaded (HTTP ${response.status}).`,
      });
      return;
    }
    const calibration = await response.json();
    const points = rocPoints(calibration);
    const saved = loadChoice(config.user ?? '');
    let preset = saved ? saved.preset : 'balanced';
    if (preset && !calibration.operating_points?.fused?.[preset]) {
      preset = null;
    }
    const threshold = preset ? calibration.operating_points.fused[preset].threshold : saved?.threshold;
    store.set({ status: 'ready', message: '', calibration, points, preset, index: nearestIndex(points, threshold) });
  } catch (err) {
    store.set({ status: 'none', message: `The calibration could not be loaded (${err.message ?? err}).` });
  }
}

/**
 * The detection result and its maps: the fused map over the CT by default, the findings list;
 * a clear message instead when there is no result yet or its job failed.
 */
async function startOverlay(config, mpr, overlay) {
  const findingsRoot = document.querySelector('[data-panel=findings]');
  let result;
  try {
    result = await fetchResult(config);
  } catch (err) {
    // The server's reason when it gives one ("no detection result for this study yet: ...").
    const detail = err.detail ? err.detail.charAt(0).toUpperCase() + err.detail.slice(1) : '';
    const message = err.status === 404 ? `${detail}.` : err.title ? `${err.title}: ${err.detail}` : String(err);
    overlay.set({ status: err.status === 404 ? 'none' : 'error', message });
    renderFindings(findingsRoot, null, message, null);
    return;
  }
  window.fusionscreenViewer.result = result;
  window.fusionscreenViewer.operatingPoint.set({ fusedScore: result.fused_score });
  renderFindings(findingsRoot, result.peaks ?? [], '', (lps) => mpr.jumpTo(lps));
  const maps = new Map();
  let shown = null;
  const show = async (state) => {
    const { kind } = state;
    if (shown !== kind) {
      shown = kind;
      try {
        if (!maps.has(kind)) {
          maps.set(kind, fetchAnomalyMap(config, kind).then((map) => ({ ...map, resultId: result.id })));
        }
        const map = await maps.get(kind);
        if (shown !== kind) {
          return;
        }
        await mpr.setOverlay(map);
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
      opacity: correctedOpacity(current.opacity),
      lower: current.threshold ?? current.range.min,
      upper: current.range.max,
    });
    window.fusionscreenViewer.timings.overlayUpdateMs = performance.now() - t0;
  };
  overlay.subscribe((state, previous) => {
    if (
      !previous ||
      state.kind !== previous.kind ||
      state.opacity !== previous.opacity ||
      state.threshold !== previous.threshold ||
      state.colormap !== previous.colormap ||
      (state.status === 'ready' && previous.status !== 'ready')
    ) {
      show(state);
    }
  });
}

start();
