/**
 * The study viewer: reads the study through DICOMweb and shows the CT in three orthogonal views.
 * This file wires: the stores (state/), the controllers that fill them (controllers/: the
 * operating point, the overlay and findings, the read form, the preview, the shortcuts), the
 * renderers (ui/) and the views (viewports/). Every request goes through data/.
 *
 * Data flows one way: loaders and Cornerstone events call viewer actions, actions change the
 * state, renderers (status, toolbar, read-outs, the views' window and tool) draw from it.
 */
import './styles.css';
import { BLINDED_MESSAGE, readConfig } from './config.js';
import { startDicomExports } from './ui/dicomExports.js';
import { startFindings } from './controllers/findings.js';
import { startOperatingPoint } from './controllers/operatingPoint.js';
import { startOverlay } from './controllers/overlay.js';
import { hidePreview, previewOrTimeout, showPreview } from './controllers/preview.js';
import { renderOnNextFrame } from './controllers/frames.js';
import { startReadForm } from './controllers/readForm.js';
import { shortcutCommands } from './controllers/shortcuts.js';
import { fetchSeriesMetadata, findCtSeries, registerSeriesImageIds } from './data/dicomweb.js';
import { asViewerError, httpError } from './errors.js';
import { createReadForm } from './read/readForm.js';
import { createFindingsState } from './state/findings.js';
import { createOperatingPointState } from './state/operatingPoint.js';
import { createOverlayState } from './state/overlay.js';
import { PLANES, createViewerState } from './state/viewerState.js';
import { mark, timings } from './timings.js';
import { bindMarkClicks, renderMarks } from './ui/marks.js';
import { bindOverlayPanel, renderOverlayPanel } from './ui/overlayPanel.js';
import { renderReadouts } from './ui/readout.js';
import { bindShortcuts, renderHelp } from './ui/shortcuts.js';
import { renderStatus } from './ui/status.js';
import { bindToolbar, renderToolbar } from './ui/toolbar.js';
import { initCornerstone } from './viewports/cornerstone.js';
import { createMpr } from './viewports/mpr.js';
import { middleAxialInstance, middleAxialInstanceEarly } from './viewports/preview.js';

const FATAL_FRAME_STATUSES = new Set([401, 403, 404]);


async function start() {
  const viewer = createViewerState();
  const overlay = createOverlayState();
  const operatingPoint = createOperatingPointState();
  const readForm = createReadForm();
  const findings = createFindingsState();
  // What the page has learnt that several parts use: the detection result being shown and the
  // views (once made). Passed to those parts; nothing else writes it.
  const session = { result: null, views: null, findings: null };
  // Read by the tests and by people profiling: read-only (the app never passes data through it).
  window.fusionscreenViewer = Object.freeze({
    viewer,
    overlay,
    operatingPoint,
    readForm,
    findings,
    timings,
    get result() {
      return session.result;
    },
    get views() {
      return session.views;
    },
  });

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
    clearMeasurements: () => mpr?.clearMeasurements(),
    activePlane: () => activePlane,
  });

  let config = null;
  try {
    config = readConfig();
    startOperatingPoint(document, config, operatingPoint);
    const read = startReadForm(document, config, readForm, operatingPoint, session);
    bindShortcuts(
      document,
      shortcutCommands(document, {
        viewer,
        overlay,
        operatingPoint,
        readForm,
        read,
        user: config.user ?? '',
        stepFinding: (delta) => session.findings?.step(delta),
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
      .then(async (instance) => showPreview(document, config, await seriesFound, instance, viewer))
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
      slabElement: document.querySelector('[data-viewport="slab"]'),
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
          hidePreview(document);
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
      if (previous && state.slabMm !== previous.slabMm) {
        mpr.setSlab(state.slabMm);
      }
      if (!previous || state.linkZoom !== previous.linkZoom) {
        mpr.linkZoom(state.linkZoom);
      }
      const layoutChanged = previous && (state.layout !== previous.layout || state.single !== previous.single);
      const slabViewChanged = previous && state.layout === '2x2' && state.slabMm !== previous.slabMm;
      if (layoutChanged || slabViewChanged) {
        // After the grid took its new shape: the 2 x 2 layout's slab view needs its pane's size.
        requestAnimationFrame(async () => {
          mpr.resize(); // the panes changed size, the grid did not
          const mm = await mpr.showSlabView(state.layout === '2x2' ? state.slabMm : null);
          const label = document.querySelector('[data-slab-label]');
          if (label && mm) {
            label.textContent = `Axial MIP ${mm} mm`;
          }
        });
      }
    });
    new ResizeObserver(() => mpr.resize()).observe(document.querySelector('.vw-grid'));
    session.views = Object.freeze({
      worldToCanvas: mpr.worldToCanvas,
      canvasToWorld: mpr.canvasToWorld,
      focalPoint: mpr.focalPoint,
      distanceToSlice: mpr.distanceToSlice,
      jumpTo: mpr.jumpTo,
      overlayProbe: mpr.overlayProbe,
    });
    // Lesion marks: placed by clicks in mark mode, drawn where they lie on a view's slice.
    bindMarkClicks(elements, mpr, () => readForm.get().marking, (lps) => readForm.actions.addMark(lps));
    const drawMarks = renderOnNextFrame(() => renderMarks(document, readForm.get().marks, mpr));
    readForm.subscribe(drawMarks);
    viewer.subscribe(drawMarks);
    session.findings = startFindings(document, mpr, { findings, operatingPoint, viewer });
    if (config.blinded) {
      // A blinded read: nothing of the AI until the read is submitted (then the page reloads).
      overlay.set({ status: 'none', message: BLINDED_MESSAGE });
      session.findings.showMessage(BLINDED_MESSAGE);
    } else {
      startOverlay(document, config, mpr, { overlay, operatingPoint, session, findings: session.findings });
      startDicomExports(document, config);
    }
  } catch (err) {
    console.error(err);
    viewer.actions.failed(asViewerError(err));
    if (overlay.get().status === 'loading') {
      overlay.set({ status: 'error', message: 'Not shown: the CT could not be loaded (see the message over the views).' });
    }
  }
}

start();
