/**
 * The read card (shown when the viewer was opened for a worklist item): verdict, lesion marks,
 * comment, submit, the server's confirmation or refusal, and previous / next item. Controls call
 * the read form's actions; the card renders from its state.
 */
import { VERDICTS } from '../read/readForm.js';
import { formatLps } from './readout.js';

export function bindReadPanel(doc, form, { submit, go, jumpTo }) {
  const root = doc.querySelector('[data-panel=read]');
  if (!root) {
    return;
  }
  root.querySelectorAll('[data-verdict]').forEach((input) => {
    input.addEventListener('change', () => form.actions.setVerdict(input.value));
  });
  root.querySelector('[data-read=mark]').addEventListener('click', () => form.actions.toggleMarking());
  root.querySelector('[data-read=comment]').addEventListener('input', (evt) => form.actions.setComment(evt.target.value));
  root.querySelector('[data-read=amend-reason]').addEventListener('input', (evt) =>
    form.actions.setAmendReason(evt.target.value),
  );
  root.querySelector('[data-read=marks]').addEventListener('change', (evt) => {
    const input = evt.target.closest('[data-mark-diameter]');
    if (input) {
      form.actions.setMarkDiameter(Number(input.dataset.markDiameter), input.value);
    }
  });
  root.querySelector('[data-read=marks]').addEventListener('click', (evt) => {
    const button = evt.target.closest('[data-remove-mark]');
    if (button) {
      form.actions.removeMark(Number(button.dataset.removeMark));
      return;
    }
    const mark = evt.target.closest('[data-mark-lps]');
    if (mark) {
      jumpTo(JSON.parse(mark.dataset.markLps)); // all three views to the mark
    }
  });
  root.querySelector('[data-read=form]').addEventListener('submit', (evt) => {
    evt.preventDefault();
    submit();
  });
  root.querySelector('[data-read=previous]').addEventListener('click', () => go('previous'));
  root.querySelector('[data-read=next]').addEventListener('click', () => go('next'));
}

const pad = (n) => String(n).padStart(2, '0');

function formatWhen(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function describeRead(read) {
  const when = formatWhen(read.created_at);
  const marks = read.lesion_marks.length ? `, ${read.lesion_marks.length} mark(s)` : '';
  const version = read.version > 1 ? ` (version ${read.version})` : '';
  return `${VERDICTS[read.verdict] ?? read.verdict}${marks}, ${when}${version}`;
}

export function renderReadPanel(doc, state) {
  const root = doc.querySelector('[data-panel=read]');
  if (!root) {
    return;
  }
  root.hidden = state.status === 'off';
  root.dataset.state = state.status;
  doc.body.classList.toggle('vw--marking', state.marking);
  const $ = (name) => root.querySelector(`[data-read=${name}]`);
  const { item } = state;
  $('title').textContent = item ? `Read · item ${item.position} · ${item.worklist_name}` : 'Read';
  $('facts').textContent = item
    ? `${item.ai_hidden ? 'Blinded: the AI is hidden until you submit' : `Fused score ${Number(item.fused_score).toFixed(3)}`} · ${item.patient_id}`
    : state.status === 'loading'
      ? 'Loading the worklist item…'
      : '';

  const message = $('message');
  message.textContent = state.message;
  message.hidden = !state.message;
  const confirmation = $('confirmation');
  confirmation.hidden = !(state.status === 'submitted' && state.existing);
  if (state.status === 'submitted' && state.existing) {
    const amended = state.existing.version > 1 ? 'Amendment saved' : 'Read saved';
    confirmation.textContent = `✓ ${amended}: ${describeRead(state.existing)}.${item?.next ? ' Go on to the next item (N).' : ' This was the last item of the worklist.'}`;
  }
  const existing = $('existing');
  existing.hidden = !(state.existing && state.status !== 'submitted');
  if (state.existing) {
    existing.textContent = `You read this item: ${describeRead(state.existing)}. To correct it, change the read, give a reason and submit again.`;
  }

  const form = $('form');
  form.hidden = !item;
  const locked = !state.canRead || state.status === 'submitting';
  root.querySelectorAll('[data-verdict]').forEach((input) => {
    input.checked = input.value === state.verdict;
    input.disabled = locked;
  });
  const mark = $('mark');
  mark.setAttribute('aria-pressed', String(state.marking));
  mark.disabled = locked;
  mark.textContent = state.marking ? 'Marking: click a lesion (M to stop)' : 'Mark lesion (M)';
  const list = $('marks');
  list.replaceChildren(
    ...state.marks.map((m, index) => {
      const li = doc.createElement('li');
      const label = doc.createElement('button');
      label.type = 'button';
      label.className = 'vw-mark-link';
      label.title = 'Move the views to this mark';
      label.textContent = `${index + 1}. ${formatLps(m.center_lps_mm)} mm`;
      label.dataset.markLps = JSON.stringify(m.center_lps_mm);
      // The lesion's diameter as the reader measured it (the Length tool, key D), in mm.
      const size = doc.createElement('input');
      size.type = 'number';
      size.min = '0.5';
      size.max = '300';
      size.step = '0.5';
      size.placeholder = '⌀ mm';
      size.className = 'vw-mark-diameter';
      size.title = `Diameter of lesion ${index + 1} (mm)`;
      size.setAttribute('aria-label', `Diameter of lesion ${index + 1} in mm`);
      size.dataset.markDiameter = String(index);
      size.disabled = locked;
      const shown = m.diameter_mm == null ? '' : String(m.diameter_mm);
      if (size.value !== shown) {
        size.value = shown;
      }
      const remove = doc.createElement('button');
      remove.type = 'button';
      remove.dataset.removeMark = String(index);
      remove.textContent = 'Delete';
      remove.title = `Delete mark ${index + 1}`;
      remove.disabled = locked;
      li.append(label, size, remove);
      return li;
    }),
  );
  $('marks-empty').hidden = state.marks.length > 0;
  const comment = $('comment');
  if (comment.value !== state.comment) {
    comment.value = state.comment;
  }
  comment.disabled = locked;
  const saved = state.status === 'submitted';
  const amendRow = $('amend-row');
  amendRow.hidden = !state.existing || saved;
  const amend = $('amend-reason');
  if (amend.value !== state.amendReason) {
    amend.value = state.amendReason;
  }
  amend.disabled = locked;
  const submit = $('submit');
  submit.disabled = locked || saved;
  submit.textContent =
    state.status === 'submitting'
      ? 'Saving…'
      : saved
        ? 'Saved ✓'
        : state.existing
          ? 'Amend read (Ctrl+Enter)'
          : 'Submit read (Ctrl+Enter)';
  $('nav').hidden = !item;
  $('previous').disabled = !item?.previous;
  $('next').disabled = !item?.next;
}
