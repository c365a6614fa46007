/**
 * Reading the study through the site's DICOMweb endpoints (QIDO-RS for the series list,
 * WADO-RS for metadata; frames are fetched by Cornerstone's wadors loader from the imageIds
 * built here). The session cookie authenticates every request.
 */
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { utilities as metadataUtilities } from '@cornerstonejs/metadata';
import { ViewerError, httpError } from '../errors.js';

export const TAG = Object.freeze({
  Modality: '00080060',
  SeriesDescription: '0008103E',
  SeriesInstanceUID: '0020000E',
  SeriesNumber: '00200011',
  NumberOfSeriesRelatedInstances: '00201209',
  SOPInstanceUID: '00080018',
  NumberOfFrames: '00280008',
  InstanceNumber: '00200013',
});

/** The first value of attribute `tag` in a DICOM JSON object, or undefined. */
export function first(item, tag) {
  return item?.[tag]?.Value?.[0];
}

async function getDicomJson(url, what, config) {
  let response;
  try {
    response = await fetch(url, {
      headers: { Accept: 'application/dicom+json' },
      credentials: 'same-origin',
    });
  } catch {
    throw httpError(0, what, config);
  }
  if (!response.ok) {
    throw httpError(response.status, what, config);
  }
  return response.json();
}

function studyUrl(config) {
  const root = new URL(config.dicomwebRoot, window.location.origin).href.replace(/\/$/, '');
  return `${root}/studies/${config.studyInstanceUID}`;
}

function seriesUrl(config, seriesInstanceUID) {
  return `${studyUrl(config)}/series/${seriesInstanceUID}`;
}

/** The study's CT series with the most images (QIDO-RS). */
export async function findCtSeries(config) {
  const series = await getDicomJson(`${studyUrl(config)}/series`, "the study's series list", config);
  const count = (s) => Number(first(s, TAG.NumberOfSeriesRelatedInstances) ?? 0);
  const ct = series.filter((s) => first(s, TAG.Modality) === 'CT').sort((a, b) => count(b) - count(a));
  if (!ct.length) {
    throw new ViewerError('No CT images', 'This study has no CT series to show.');
  }
  const chosen = ct[0];
  return {
    seriesInstanceUID: first(chosen, TAG.SeriesInstanceUID),
    description: first(chosen, TAG.SeriesDescription) ?? '',
    number: first(chosen, TAG.SeriesNumber) ?? null,
    slices: count(chosen),
  };
}

/** The series' instances (QIDO-RS): SOP Instance UID, Instance Number, rows, columns. */
export function fetchSeriesInstances(config, seriesInstanceUID) {
  return getDicomJson(`${seriesUrl(config, seriesInstanceUID)}/instances`, "the CT's instance list", config);
}

/** One instance's metadata (WADO-RS), as its one DICOM JSON object. */
export async function fetchInstanceMetadata(config, seriesInstanceUID, sopInstanceUID) {
  const url = `${seriesUrl(config, seriesInstanceUID)}/instances/${sopInstanceUID}/metadata`;
  const [instance] = await getDicomJson(url, 'the metadata of one CT image', config);
  return instance;
}

/** The WADO-RS URL of one frame of an instance of the series. */
export function frameUrl(config, seriesInstanceUID, sopInstanceUID, frame = 1) {
  return `${seriesUrl(config, seriesInstanceUID)}/instances/${sopInstanceUID}/frames/${frame}`;
}

/** The series' metadata (WADO-RS): one DICOM JSON object per instance, no pixel data. */
/** One frame's raw pixel bytes (WADO-RS, uncompressed), or null when the site cannot give them so. */
export async function fetchRawFrame(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/octet-stream' } });
  const type = response.headers.get('Content-Type') ?? '';
  if (!response.ok || !type.startsWith('application/octet-stream')) {
    return null;
  }
  return response.arrayBuffer();
}

export function fetchSeriesMetadata(config, seriesInstanceUID) {
  return getDicomJson(`${seriesUrl(config, seriesInstanceUID)}/metadata`, 'the CT metadata', config);
}

/**
 * Registers the metadata with Cornerstone's providers (after Cornerstone is initialised) and
 * returns one wadors imageId per frame; the volume loader sorts them by position.
 */
export function registerSeriesImageIds(config, seriesInstanceUID, instances) {
  if (!instances.length) {
    throw new ViewerError('No CT images', 'The CT series has no images.');
  }
  const url = seriesUrl(config, seriesInstanceUID);
  const imageIds = [];
  for (const instance of instances) {
    const base = `wadors:${url}/instances/${first(instance, TAG.SOPInstanceUID)}/frames/`;
    // Metadata is registered under frame 1; the loader derives the other frames' from it.
    wadors.metaDataManager.add(`${base}1`, instance);
    metadataUtilities.addDicomWebInstance(`${base}1`, instance);
    const frames = Number(first(instance, TAG.NumberOfFrames) ?? 1);
    for (let frame = 1; frame <= frames; frame += 1) {
      imageIds.push(`${base}${frame}`);
    }
  }
  return imageIds;
}
