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
import { createOverlayState } from './state/overlay.js';
import { PLANES, createViewerState } from './state/viewerState.js';
import { mark, timings } from './timings.js';
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
  // Read by the next steps (overlay controls, operating point, read form) and by the tests.
  window.fusionscreenViewer = {
    viewer,
    overlay: createOverlayState(),
    operatingPoint: createOperatingPointState(),
    readForm: createReadForm(),
    timings,
  };

  const statusRoot = document.querySelector('[data-role=status]');
  viewer.subscribe((state) => renderStatus(statusRoot, state));
  viewer.subscribe((state) => renderToolbar(document, state));
  viewer.subscribe(renderOnNextFrame(() => renderReadouts(document, viewer.get())));

  let mpr = null;
  let activePlane = 'axial';
  bindToolbar(document, viewer, {
    reset: () => mpr?.reset(),
    scroll: (delta) => mpr?.scroll(activePlane, delta),
  });

  let config = null;
  try {
    config = readConfig();
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
    };
  } catch (err) {
    console.error(err);
    viewer.actions.failed(asViewerError(err));
  }
}

start();
