/**
 * Anomaly maps (next step of the viewer). The detection app serves each map of a study's
 * result at config.mapUrlTemplate ({kind} = global | local | fused) as raw uint16, C order
 * (z, y, x), value = X-Map-Offset + q * X-Map-Scale, on the CT's grid (X-Map-Shape, -Spacing,
 * -Origin, -Direction). The overlay code will create a Cornerstone local volume from it and
 * call invalidate() after setVolumes (a local volume is not drawn otherwise).
 *
 * Returns null while this site has no map endpoint.
 */
export function anomalyMapUrl(config, kind) {
  return config.mapUrlTemplate ? config.mapUrlTemplate.replace('{kind}', kind) : null;
}
