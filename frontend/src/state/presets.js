/** Window presets (HU). Lung and mediastinal windows as chest CT is usually read. */
export const PRESETS = Object.freeze({
  lung: Object.freeze({ label: 'Lung', window: 1500, level: -600 }),
  mediastinum: Object.freeze({ label: 'Mediastinum', window: 400, level: 40 }),
});

export const DEFAULT_PRESET = 'lung';

export function voiRange({ window, level }) {
  return { lower: level - window / 2, upper: level + window / 2 };
}

export function windowLevel({ lower, upper }) {
  return { window: upper - lower, level: (upper + lower) / 2 };
}

/** The preset whose window/level is `voi` (within 1 HU), or null. */
export function matchPreset(voi) {
  for (const [name, preset] of Object.entries(PRESETS)) {
    if (Math.abs(preset.window - voi.window) < 1 && Math.abs(preset.level - voi.level) < 1) {
      return name;
    }
  }
  return null;
}
