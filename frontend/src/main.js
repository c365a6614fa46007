/**
 * The study viewer: reads the study through DICOMweb and shows the CT in three orthogonal views.
 *
 * Data flows one way: loaders and Cornerstone events call viewer actions, actions change the
 * state, renderers (status, toolbar, read-outs, the views' window and tool) draw from it.
 */
import './styles.css';
import { readConfig } from './config.js';
import { TAG, fetchSeriesMetadata, findCtSeries, first, frameUrl, registerSeriesImageIds } from './data/dicomweb.js';
import { asViewerError, httpError } from './errors.js';
import { createReadForm, readOperatingPoint } from './read/readForm.js';
import { itemViewerUrl } from './data/worklist.js';
import { createOperatingPointState } from './state/operatingPoint.js';
import { fetchAnomalyMap, fetchDetectionState, fetchResult } from './data/maps.js';
import {
  createOverlayState,
  defaultThreshold,
  nextKind,
  steppedThreshold,
} from './state/overlay.js';
import { PLANES, createViewerState } from './state/viewerState.js';
import { mark, timings } from './timings.js';
import { renderFindings } from './ui/findings.js';
import { bindMarkClicks, renderMarks } from './ui/marks.js';
import { bindReadPanel, renderReadPanel } from './ui/readPanel.js';
import { bindShortcuts, renderHelp } from './ui/shortcuts.js';
import {
  bindOperatingPoint,
  choosePreset,
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
import { drawPreview, middleAxialInstance, middleAxialInstanceEarly } from './viewports/preview.js';

const FATAL_FRAME_STATUSES = new Set([401, 403, 404]);
// How long the views' set-up waits for the middle-slice preview (ms): one frame is ~0.5 MB.
const PREVIEW_WAIT_MS = 600;

function previewOrTimeout(previewDrawn) {
  return Promise.race([previewDrawn, new Promise((resolve) => setTimeout(resolve, PREVIEW_WAIT_MS))]);
}

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
  const readForm = createReadForm();
  // Read by the tests and by people profiling.
  window.fusionscreenViewer = {
    viewer,
    overlay,
    operatingPoint,
    readForm,
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
    const read = startReadForm(config, readForm, operatingPoint);
    bindShortcuts(
      document,
      shortcutCommands({
        viewer,
        overlay,
        operatingPoint,
        readForm,
        read,
        user: config.user ?? '',
        mpr: () => mpr,
        activePlane: () => activePlane,
      }),
      config.operatingPoints,
    );
    renderHelp(document, config.operatingPoints);
    const help = document.querySelector('[data-role=help]');
    document.querySelector('[data-action=help]')?.addEventListener('click', () => (help.hidden = !help.hidden));
    help.addEventListener('click', (evt) => evt.target === help && (help.hidden = true)); // the backdrop
    mark('config');
    // The study's metadata comes over the network while Cornerstone starts (milestones: arrivals).
    const seriesFound = findCtSeries(config);
    const metadataFetched = seriesFound.then((series) => fetchSeriesMetadata(config, series.seriesInstanceUID));
    seriesFound.then(() => mark('series'));
    metadataFetched.then(() => mark('metadata'));
    [seriesFound, metadataFetched].forEach((p) => p.catch(() => {})); // handled where awaited
    // The middle axial slice, drawn from one frame long before the volume's first rendered image
    // (seconds, with software WebGL). Found from the instance list and two instances' metadata,
    // else from the whole series' metadata when that arrives.
    const previewDrawn = seriesFound
      .then((series) => middleAxialInstanceEarly(config, series.seriesInstanceUID))
      .catch(() => null)
      .then(async (instance) => instance ?? middleAxialInstance(await metadataFetched))
      .then(async (instance) => showPreview(config, await seriesFound, instance, viewer))
      .catch(() => false);
    // Starting Cornerstone (WebGL) holds the page for most of a second with software rendering,
    // while the series metadata is still on its way: draw the preview first.
    await previewOrTimeout(previewDrawn);
    await initCornerstone();
    mark('cornerstone');
    const series = await seriesFound;
    viewer.actions.seriesChosen(series);
    const imageIds = registerSeriesImageIds(config, series.seriesInstanceUID, await metadataFetched);
    viewer.actions.loading({ loaded: 0, total: imageIds.length });

    const elements = Object.fromEntries(
      PLANES.map((plane) => [plane, document.querySelector(`[data-viewport="${plane}"]`)]),
    );
    PLANES.forEach((plane) => elements[plane].addEventListener('pointerenter', () => (activePlane = plane)));
    // Setting up the views blocks the page for a second or more with software WebGL (textures
    // for the whole volume): if the preview is still coming (from the full metadata), let it.
    await previewOrTimeout(previewDrawn);
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
          hidePreview();
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
      canvasToWorld: mpr.canvasToWorld,
      focalPoint: mpr.focalPoint,
      distanceToSlice: mpr.distanceToSlice,
      jumpTo: mpr.jumpTo,
      overlayProbe: mpr.overlayProbe,
    };
    // Lesion marks: placed by clicks in mark mode, drawn where they lie on a view's slice.
    bindMarkClicks(elements, mpr, () => readForm.get().marking, (lps) => readForm.actions.addMark(lps));
    const drawMarks = renderOnNextFrame(() => renderMarks(document, readForm.get().marks, mpr));
    readForm.subscribe(drawMarks);
    viewer.subscribe(drawMarks);
    startOverlay(config, mpr, overlay);
  } catch (err) {
    console.error(err);
    viewer.actions.failed(asViewerError(err));
    if (overlay.get().status === 'loading') {
      overlay.set({ status: 'error', message: 'Not shown: the CT could not be loaded (see the message over the views).' });
    }
  }
}

const previewCanvas = () => document.querySelector('[data-preview=axial]');

async function showPreview(config, series, instance, viewer) {
  const canvas = previewCanvas();
  if (!canvas || !instance || timings.firstImage !== undefined) {
    return false;
  }
  const url = frameUrl(config, series.seriesInstanceUID, first(instance, TAG.SOPInstanceUID));
  const drawn = await drawPreview(canvas, url, instance, viewer.get().voi);
  if (!drawn || timings.firstImage !== undefined) {
    return false;
  }
  canvas.hidden = false;
  mark('firstPreview');
  viewer.actions.previewShown();
  return true;
}

function hidePreview() {
  const canvas = previewCanvas();
  if (canvas) {
    canvas.hidden = true;
  }
}

/** What each keyboard shortcut does (ui/shortcuts.js names the keys). */
function shortcutCommands({ viewer, overlay, operatingPoint, readForm, read, user, mpr, activePlane }) {
  const help = document.querySelector('[data-role=help]');
  const setMap = (kind) => overlay.get().status === 'ready' && overlay.set({ kind });
  return {
    lung: () => viewer.actions.choosePreset('lung'),
    mediastinum: () => viewer.actions.choosePreset('mediastinum'),
    mode: (mode) => viewer.actions.chooseMode(mode),
    reset: () => mpr()?.reset(),
    scroll: (delta) => mpr()?.scroll(activePlane(), delta),
    toggleOverlay: () => overlay.set({ visible: !overlay.get().visible }),
    cycleMap: () => setMap(nextKind(overlay.get().kind)),
    map: setMap,
    threshold(steps) {
      const state = overlay.get();
      if (state.status === 'ready') {
        overlay.set({ threshold: steppedThreshold(state, steps) });
      }
    },
    operatingPoint: (preset) => choosePreset(operatingPoint, preset, user),
    toggleMarking: () => readForm.actions.toggleMarking(),
    next: () => read.go('next'),
    previous: () => read.go('previous'),
    submit: () => read.submit(),
    help: () => (help.hidden = !help.hidden),
    escape() {
      help.hidden = true;
      readForm.actions.setMarking(false);
    },
  };
}

/**
 * The read form when the page was opened for a worklist item (?item=): loads and starts the item,
 * and returns what the card's buttons and the keys call (submit, go to the previous / next item).
 */
function startReadForm(config, form, operatingPoint) {
  const submit = () =>
    form.actions.submit(
      config,
      readOperatingPoint(operatingPoint.get(), config.defaultPoint),
      window.fusionscreenViewer.result?.id,
    );
  const go = (direction) => {
    const target = form.get().item?.[direction];
    if (target && form.actions.mayLeave()) {
      window.location.assign(itemViewerUrl(config, target));
    }
  };
  form.subscribe(renderOnNextFrame(() => renderReadPanel(document, form.get())));
  bindReadPanel(document, form, { submit, go, jumpTo: (lps) => window.fusionscreenViewer.views?.jumpTo(lps) });
  if (config.item && config.itemUrlTemplate) {
    form.actions.open(config, config.item);
  }
  return { submit, go };
}

/** The latest calibration's ROC for the operating-point control (one request, then local). */
async function startOperatingPoint(config, store) {
  store.subscribe(renderOnNextFrame(() => renderOperatingPoint(document, store.get(), config.operatingPoints)));
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
    let preset = saved ? saved.preset : config.defaultPoint;
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
 * The detection result and its maps: the fused map over the CT by default, the findings list.
 * Without a result, why: still processing (with progress; polled until it finishes), the job
 * failed (its error), or no detection yet.
 */
const PROCESSING_POLL_MS = 3000;

async function startOverlay(config, mpr, overlay) {
  const findingsRoot = document.querySelector('[data-panel=findings]');
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
      renderFindings(findingsRoot, null, state.message, null);
      if (state.status === 'processing') {
        setTimeout(() => startOverlay(config, mpr, overlay), PROCESSING_POLL_MS);
      }
      return;
    }
    const message = err.title ? `${err.title}: ${err.detail}` : String(err);
    overlay.set({ status: 'error', message, progress: null });
    renderFindings(findingsRoot, null, message, null);
    return;
  }
  window.fusionscreenViewer.result = result;
  window.fusionscreenViewer.operatingPoint.set({ fusedScore: result.fused_score });
  renderFindings(findingsRoot, result.peaks ?? [], '', (lps) => mpr.jumpTo(lps));
  overlay.set({ status: 'loading', message: 'Loading the anomaly map…', progress: null });
  const maps = new Map();
  let shown = null;
  // Threshold re-render times (ms from the change to the frame that shows it in every view),
  // for the browser test's benchmark and for people profiling.
  const updates = [];
  window.fusionscreenViewer.timings.overlayUpdatesMs = updates;
  // Of which: re-colouring and drawing the three overlay canvases (JavaScript).
  const applyTimes = [];
  window.fusionscreenViewer.timings.overlayApplyMs = applyTimes;
  const show = async (state, previous) => {
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

start();
