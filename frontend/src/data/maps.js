/**
 * Anomaly maps. The detection app serves each map of a study's result at
 * config.mapUrlTemplate ({kind} = global | local | fused) as raw uint16, C order (z, y, x),
 * value = X-Map-Offset + q * X-Map-Scale, on the CT's grid (X-Map-Shape, -Spacing, -Origin,
 * -Direction). The result itself (scores, peaks, calls) is at config.resultUrl.
 */
import { ViewerError, httpError } from '../errors.js';

export const MAP_KINDS = Object.freeze(['fused', 'global', 'local']);

export function anomalyMapUrl(config, kind) {
  return config.mapUrlTemplate ? config.mapUrlTemplate.replace('{kind}', kind) : null;
}

const numbers = (text) => (text ?? '').split(',').filter(Boolean).map(Number);

/**
 * The study's detection result, or a ViewerError saying why there is none (no result yet,
 * job failed, not allowed). The 404 body of the result endpoint carries the reason.
 */
export async function fetchResult(config) {
  if (!config.resultUrl) {
    throw new ViewerError('No detection results', 'This site does not serve detection results.');
  }
  const response = await fetch(config.resultUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (response.status === 404) {
    let reason = '';
    try {
      reason = (await response.json()).detail ?? '';
    } catch {
      /* not JSON */
    }
    throw new ViewerError('No detection result yet', reason || 'Detection has not finished for this study.', {
      status: 404,
    });
  }
  if (!response.ok) {
    throw httpError(response.status, 'the detection result', config);
  }
  return response.json();
}

/**
 * One map as { kind, values: Float32Array (x fastest), dimensions [x, y, z], spacing [x, y, z],
 * origin (LPS mm), direction (9 numbers: x, y, z axes in LPS), min, max }.
 */
export async function fetchAnomalyMap(config, kind) {
  const url = anomalyMapUrl(config, kind);
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) {
    throw httpError(response.status, `the ${kind} anomaly map`, config);
  }
  const h = (name) => response.headers.get(name);
  const [nz, ny, nx] = numbers(h('X-Map-Shape'));
  const [sz, sy, sx] = numbers(h('X-Map-Spacing'));
  const origin = numbers(h('X-Map-Origin'));
  const d = numbers(h('X-Map-Direction')); // rows: the z, y, x index axes in LPS
  const offset = Number(h('X-Map-Offset'));
  const scale = Number(h('X-Map-Scale'));
  const q = new Uint16Array(await response.arrayBuffer());
  if (q.length !== nx * ny * nz) {
    throw new ViewerError('Broken anomaly map', `The ${kind} map has ${q.length} values for a ${nx}×${ny}×${nz} grid.`);
  }
  const values = new Float32Array(q.length);
  for (let i = 0; i < q.length; i += 1) {
    values[i] = offset + q[i] * scale;
  }
  return {
    kind,
    values,
    dimensions: [nx, ny, nz],
    spacing: [sx, sy, sz],
    origin,
    direction: [...d.slice(6, 9), ...d.slice(3, 6), ...d.slice(0, 3)],
    min: offset,
    max: offset + 65535 * scale,
  };
}

/**
 * Why a study has no result, from the viewer's detection-status endpoint
 * ({state, job: {status, progress, stage, error, model_version}}), as the overlay state to show:
 * { status: 'processing' | 'failed' | 'none', message, progress }.
 */
export async function fetchDetectionState(config) {
  if (!config.detectionStatusUrl) {
    return null;
  }
  const response = await fetch(config.detectionStatusUrl, {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  });
  if (!response.ok) {
    return null;
  }
  return describeDetection(await response.json());
}

export function describeDetection({ state, job }) {
  const model = job?.model_version ? ` (model ${job.model_version})` : '';
  const pct = job ? Math.round(100 * (job.progress ?? 0)) : 0;
  switch (state) {
    case 'queued':
      return {
        status: 'processing',
        progress: 0,
        message: `Study still processing: detection is queued${model}. The overlay appears here when it finishes.`,
      };
    case 'running':
      return {
        status: 'processing',
        progress: job.progress ?? 0,
        message: `Study still processing: detection is running${model}${job.stage ? `, ${job.stage}` : ''}, ${pct}% done. The overlay appears here when it finishes.`,
      };
    case 'failed':
      return {
        status: 'failed',
        progress: null,
        message: `Detection failed${model}: ${job.error || 'the job gave no reason'}. A coordinator can launch detection again from the cohort page.`,
      };
    case 'cancelled':
      return {
        status: 'none',
        progress: null,
        message: `No result: detection of this study was cancelled${model}. A coordinator can launch it again from the cohort page.`,
      };
    case 'done':
      return null; // a result exists after all: load it
    default:
      return {
        status: 'none',
        progress: null,
        message: 'No result yet: detection has not been run on this study. A coordinator launches it from the cohort page.',
      };
  }
}
