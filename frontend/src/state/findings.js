import { createStore } from './store.js';

/**
 * The findings of the result shown, as a reader meets them (detector/findings.py describes
 * each; webapp/detection/findings.py places it against the calibration):
 *
 *   items     [{ n, lps, zone, sizeMm, score, percentile, flaggedAt, value }], strongest first
 *   selected  index into items of the finding the views are at, or null
 *   slices    index -> axial slice number (1-based, as the axial view's read-out counts), once
 *             the views exist
 */
export function createFindingsState() {
  return createStore({ items: [], selected: null, slices: {} });
}

/**
 * The result's peaks with their meaning, in the detector's order (strongest peak of the fused
 * map first: the order whose first finding docs/results.md scores as "the strongest peak hits
 * the lesion"), each with its own score where the model gives one.
 */
export function describeFindings(result) {
  const meaning = result?.interpretation?.findings ?? [];
  const items = (result?.peaks ?? []).map((peak, i) => ({
    lps: [...peak.center_lps_mm],
    zone: peak.zone ?? null,
    sizeMm: peak.size_mm ?? null,
    score: peak.score ?? null,
    value: peak.value,
    percentile: meaning[i]?.normal_percentile ?? null,
    flaggedAt: meaning[i]?.flagged_at ?? [],
  }));
  return items.map((f, i) => ({ ...f, n: i + 1 }));
}

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** "Right lung, upper zone, peripheral" (or the side alone for results without zones). */
export function zoneText(finding) {
  const { zone } = finding;
  if (!zone) {
    return 'Lung';
  }
  return `${capital(zone.lung)} lung, ${zone.level} zone, ${zone.depth}`;
}

/** Whether the operating point at fused-score `threshold` flags this finding (null: unknown). */
export function isFlagged(finding, threshold) {
  if (finding.score === null || threshold === null || threshold === undefined) {
    return null;
  }
  return finding.score >= threshold;
}

/** How strong a finding is, in words a reader can place. */
export function strengthText(finding, nNormals) {
  if (finding.percentile !== null && nNormals) {
    return `stronger than ${Math.round(finding.percentile)}% of the ${nNormals} calibration normals`;
  }
  if (finding.score !== null) {
    return `score ${finding.score.toFixed(2)} (no calibration to compare with)`;
  }
  return 'no finding score (model without a local score map)';
}

/** The selection `delta` steps on, wrapping round; the first finding when none is selected. */
export function steppedSelection(selected, count, delta) {
  if (!count) {
    return null;
  }
  if (selected === null || selected === undefined) {
    return delta >= 0 ? 0 : count - 1;
  }
  return (((selected + delta) % count) + count) % count;
}

/** The finding to open at: the strongest, when the study is positive at the point in use. */
export function openingFinding(items, fusedScore, threshold) {
  if (!items.length || threshold === null || threshold === undefined || fusedScore === null) {
    return null;
  }
  return fusedScore >= threshold ? 0 : null;
}

/**
 * The local map's level at which the point of fused-score `threshold` flags the study
 * (`line`: result.interpretation.map_level_line, level = intercept + slope x threshold), or null
 * when there is no point or line, or when the global score alone reaches the threshold (a level
 * at or below zero: every voxel would qualify, and an outline round the whole view says nothing).
 */
export function regionLevel(line, threshold) {
  if (!line || threshold === null || threshold === undefined) {
    return null;
  }
  const level = line.intercept + line.slope * threshold;
  return level > 0 ? level : null;
}
