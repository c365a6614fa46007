/** What each keyboard shortcut does (ui/shortcuts.js names the keys). */
import { nextKind, steppedThreshold } from '../state/overlay.js';
import { choosePreset } from '../ui/operatingPoint.js';

export function shortcutCommands(
  doc,
  { viewer, overlay, operatingPoint, readForm, read, user, stepFinding, mpr, activePlane },
) {
  const help = doc.querySelector('[data-role=help]');
  const setMap = (kind) => overlay.get().status === 'ready' && overlay.set({ kind });
  return {
    lung: () => viewer.actions.choosePreset('lung'),
    mediastinum: () => viewer.actions.choosePreset('mediastinum'),
    mode: (mode) => viewer.actions.chooseMode(mode),
    clearMeasurements: () => mpr()?.clearMeasurements(),
    cycleSlab: () => viewer.actions.cycleSlab(),
    cycleLayout: () => viewer.actions.cycleLayout(activePlane()),
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
    nextFinding: () => stepFinding(1),
    previousFinding: () => stepFinding(-1),
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
