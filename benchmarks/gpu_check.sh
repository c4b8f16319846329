#!/usr/bin/env bash
# gankit's GPU check: everything that needs a GPU, in one run of under 8 minutes on one GPU, from the
# repository alone (the GPU machine may have no internet).
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--train-minutes M] [--serial]   on a machine with a GPU
#   bash benchmarks/gpu_check.sh --cpu-smoke [--out DIR]                      dry run on CPU, tiny budgets
#
# Stages, each under `timeout`, each appended to DIR/gpu-check.json and DIR/gpu-check.md as it ends
# (DIR: --out, else $OUT, else benchmarks/out/gpu-check):
#   env       which Python: $GANKIT_PYTHON, ./.venv, then python3 on PATH; the first whose torch sees CUDA
#             is used. Modules missing beside it are pip-installed from requirements*.txt into a
#             --system-site-packages venv (.gpu-venv) if the network allows; what happened is recorded.
#   mnist     real MNIST from $GANKIT_DATA, benchmarks/out/gankit-data (carry it: fill it beforehand with
#             `GANKIT_DATA=benchmarks/out/gankit-data gankit data get mnist`) or ~/.cache/gankit; else
#             `gankit data get mnist` (45 s); else the 1,000 shipped test digits (800 train / 200 test), said
#             in the results: those scores are not comparable with BENCHMARKS.md's.
#   tests     pytest -m cuda (tests/test_cuda.py and any other cuda-marked test)
#   nccl      torchrun --nproc_per_node 1 -m gankit train ring8 run.device=cuda (process group on NCCL)
#   speed     benchmarks/speed.py --device cuda: the trainer against a bare loop on DCGAN steps
#   dcgan-mnist, cgan-mnist   M minutes each (default 3) with train.time_limit, scored at the end (classifier
#             FID/IS/KID, precision/recall, class accuracy, the real-vs-real floor). The two run at the same
#             time on the one GPU (each is too small to fill it) unless --serial; the results say which.
set -u -o pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
MODE=gpu
OUT_DIR="${OUT:-$REPO/benchmarks/out/gpu-check}"
TRAIN_MIN=3
SERIAL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-smoke) MODE=cpu-smoke ;;
    --out) OUT_DIR="$2"; shift ;;
    --train-minutes) TRAIN_MIN="$2"; shift ;;
    --serial) SERIAL=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gankit-gpu-check.XXXXXX")"
LOGS="$OUT_DIR/logs"
mkdir -p "$LOGS"
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
HELPER="$REPO/benchmarks/gpu_check.py"
T0=$(date +%s)
say() { echo "[gpu-check $(( $(date +%s) - T0 ))s] $*" >&2; }

if [ "$MODE" = gpu ]; then
  DEVICE=cuda; ENV_FLAG=""
  TESTS_S=120; NCCL_S=90; SPEED_S=120
  NCCL_STEPS=300; SPEED_ARGS=(--steps 200 --warmup 20 --rounds 2 --threads 1)
  TRAIN_ARGS=(train.steps=10000000)
  TRAIN_S=$(python3 -c "print(int($TRAIN_MIN * 60 + 100))" 2>/dev/null || echo 280)
else
  DEVICE=cpu; ENV_FLAG="--cpu-smoke"; TRAIN_MIN=0.1
  TESTS_S=120; NCCL_S=120; SPEED_S=120
  NCCL_STEPS=10; SPEED_ARGS=(--steps 2 --warmup 1 --rounds 1 --threads 1)
  TRAIN_ARGS=(train.steps=100000 generator.width=16 discriminator.width=16 eval.num_samples=200 run.threads=1)
  export OMP_NUM_THREADS=1  # a shared CPU machine
  TRAIN_S=200
fi

# ---- env: pick a Python whose torch can do the job ----------------------------------------------------------
t=$(date +%s); PY=""; NOTES=()
for cand in "${GANKIT_PYTHON:-}" "$REPO/.venv/bin/python" "$(command -v python3 || true)" "$(command -v python || true)"; do
  [ -n "$cand" ] && [ -x "$cand" ] || continue
  if "$cand" "$HELPER" env $ENV_FLAG > "$WORK/env.json" 2> "$LOGS/env.err"; then PY="$cand"; break; fi
  NOTES+=("$cand: torch unusable here ($(head -c 300 "$WORK/env.json"))")
done
if [ -z "$PY" ]; then
  # no usable torch: try a fresh venv with requirements.txt (works only where pip can reach an index)
  BASE="$(command -v python3 || command -v python)"
  say "no Python with a CUDA torch; trying a venv with requirements.txt (needs network)"
  if "$BASE" -m venv "$REPO/.gpu-venv" > "$LOGS/venv.log" 2>&1 \
     && timeout 240 "$REPO/.gpu-venv/bin/pip" install -q -r requirements.txt -r requirements-dev.txt >> "$LOGS/venv.log" 2>&1 \
     && "$REPO/.gpu-venv/bin/python" "$HELPER" env $ENV_FLAG > "$WORK/env.json" 2>> "$LOGS/env.err"; then
    PY="$REPO/.gpu-venv/bin/python"; NOTES+=("installed requirements into .gpu-venv")
  else
    NOTES+=("pip install -r requirements.txt into .gpu-venv failed or gave no CUDA torch (see logs/venv.log)")
  fi
fi
if [ -n "$PY" ]; then
  MISSING=$("$PY" -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['missing']))" "$WORK/env.json")
  if [ -n "$MISSING" ]; then
    # torch is there (with CUDA); only the small pure-Python/wheel dependencies are missing
    say "missing beside torch: $MISSING; pip-installing them into .gpu-venv (system site packages kept)"
    PINS=$(grep -h -i -E "^($(echo "$MISSING" | tr ' ' '|'))==" requirements.txt requirements-dev.txt | tr '\n' ' ')
    if "$PY" -m venv --system-site-packages "$REPO/.gpu-venv" > "$LOGS/venv.log" 2>&1 \
       && timeout 120 "$REPO/.gpu-venv/bin/pip" install -q $PINS >> "$LOGS/venv.log" 2>&1; then
      PY="$REPO/.gpu-venv/bin/python"; "$PY" "$HELPER" env $ENV_FLAG > "$WORK/env.json" 2>> "$LOGS/env.err"
      NOTES+=("pip-installed beside the system torch: $PINS")
    else
      NOTES+=("could not pip-install $PINS (offline?); stages needing them will fail (logs/venv.log)")
    fi
  fi
fi
HEADER_NOTES=(--note "mode $MODE; device $DEVICE; python ${PY:-none}")
for n in "${NOTES[@]+"${NOTES[@]}"}"; do HEADER_NOTES+=(--note "$n"); done
RUNPY="${PY:-python3}"
"$RUNPY" "$HELPER" header "$OUT_DIR" --mode "$MODE" --env "$WORK/env.json" "${HEADER_NOTES[@]}"
record() { "$RUNPY" "$HELPER" record "$OUT_DIR" "$@" || say "could not record stage $1"; }
record env --rc $([ -n "$PY" ] && echo 0 || echo 1) --seconds $(( $(date +%s) - t )) \
  --note "$([ -n "$PY" ] && echo "using $PY" || echo "no Python with a usable torch: nothing else can run")"
if [ -z "$PY" ]; then say "no usable torch; results in $OUT_DIR"; exit 1; fi

# ---- mnist: a data cache ---------------------------------------------------------------------------------
t=$(date +%s); MNIST_NOTE=""
has_mnist() { [ -f "$1/mnist/train-images-idx3-ubyte.gz" ] && [ -f "$1/mnist/t10k-labels-idx1-ubyte.gz" ]; }
DATA=""
for c in "${GANKIT_DATA:-}" "$REPO/benchmarks/out/gankit-data" "$HOME/.cache/gankit"; do
  if [ -n "$c" ] && has_mnist "$c"; then DATA="$c"; MNIST_NOTE="real MNIST from $c"; break; fi
done
if [ -z "$DATA" ] && [ "$MODE" = gpu ]; then
  if GANKIT_DATA="$WORK/data" timeout 45 "$PY" -m gankit data get mnist > "$LOGS/mnist.log" 2>&1; then
    DATA="$WORK/data"; MNIST_NOTE="real MNIST fetched by gankit data get mnist"
  fi
fi
if [ -z "$DATA" ]; then
  "$PY" "$HELPER" mnist-cache "$WORK/fixture-data" > /dev/null 2>> "$LOGS/mnist.log" && DATA="$WORK/fixture-data"
  MNIST_NOTE="NO real MNIST: the 1,000 shipped test digits (800 train / 200 test); scores not comparable with BENCHMARKS.md"
fi
export GANKIT_DATA="$DATA" GANKIT_OFFLINE=1
record mnist --rc $([ -n "$DATA" ] && echo 0 || echo 1) --seconds $(( $(date +%s) - t )) --note "$MNIST_NOTE"

# ---- tests: the suite's cuda-marked tests ------------------------------------------------------------------
t=$(date +%s); say "tests (pytest -m cuda)"
XDIST=$("$PY" -c "import json,sys; print('-p no:xdist' if not json.load(open(sys.argv[1]))['xdist'] else '-n 0')" "$WORK/env.json")
timeout "$TESTS_S" "$PY" -m pytest -q -p no:cacheprovider $XDIST -m cuda -rs tests > "$LOGS/tests.log" 2>&1
rc=$?
record tests --rc $rc --seconds $(( $(date +%s) - t )) --note "$(grep -E '(passed|failed|skipped|error|no tests ran)' "$LOGS/tests.log" | tail -1)"

# ---- nccl: a 1-process torchrun run ------------------------------------------------------------------------
t=$(date +%s); say "torchrun, 1 process, $DEVICE"
timeout "$NCCL_S" "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m gankit train ring8 \
  run.device=$DEVICE run.out_dir="$WORK/runs" run.name=torchrun train.steps=$NCCL_STEPS train.progress=false \
  train.sample_every=0 eval.num_samples=500 > "$LOGS/torchrun.log" 2>&1
rc=$?
BACKEND=$([ "$DEVICE" = cuda ] && echo nccl || echo gloo)
record torchrun-$BACKEND --rc $rc --seconds $(( $(date +%s) - t )) --run "$WORK/runs/torchrun" \
  --note "gankit train ring8 under torchrun --nproc_per_node 1 ($BACKEND process group), $NCCL_STEPS steps"

# ---- speed: the trainer against a bare loop -----------------------------------------------------------------
t=$(date +%s); say "speed.py --device $DEVICE"
timeout "$SPEED_S" "$PY" benchmarks/speed.py --device $DEVICE "${SPEED_ARGS[@]}" --out "$OUT_DIR/speed.json" \
  > "$LOGS/speed.log" 2>&1
rc=$?
record speed --rc $rc --seconds $(( $(date +%s) - t )) --json "$OUT_DIR/speed.json" \
  --note "$(grep -E '^\| 1 \| trainer' "$LOGS/speed.log" | head -1)"

# ---- dcgan-mnist and cgan-mnist, TRAIN_MIN minutes each -------------------------------------------------------
train() {  # preset: train for TRAIN_MIN minutes, then record the scores
  local preset=$1 s=$(date +%s)
  timeout "$TRAIN_S" "$PY" -m gankit train "$preset" run.device=$DEVICE run.out_dir="$WORK/runs" \
    train.time_limit=$TRAIN_MIN "${TRAIN_ARGS[@]}" train.sample_every=5000 train.checkpoint_every=5000 \
    train.eval_every=0 train.progress=false > "$LOGS/$preset.log" 2>&1
  local rc=$?
  mkdir -p "$OUT_DIR/$preset"
  cp "$WORK/runs/$preset/metrics.jsonl" "$WORK/runs/$preset/config.yaml" "$OUT_DIR/$preset/" 2>/dev/null
  cp "$(ls "$WORK/runs/$preset"/samples/*.png 2>/dev/null | tail -1)" "$OUT_DIR/$preset/" 2>/dev/null
  record "$preset" --rc $rc --seconds $(( $(date +%s) - s )) --run "$WORK/runs/$preset" \
    --note "train.time_limit=$TRAIN_MIN min$([ $SERIAL = 1 ] && echo ', alone' || echo ', both presets at once on one device'); $MNIST_NOTE"
}
say "dcgan-mnist and cgan-mnist, $TRAIN_MIN min each$([ $SERIAL = 1 ] && echo ', one after the other' || echo ', side by side')"
if [ $SERIAL = 1 ]; then
  train dcgan-mnist; train cgan-mnist
else
  train dcgan-mnist & P1=$!
  sleep 2; train cgan-mnist & P2=$!
  wait $P1 $P2
fi

say "done in $(( $(date +%s) - T0 )) s; results: $OUT_DIR/gpu-check.md"
rm -rf "$WORK"
cat "$OUT_DIR/gpu-check.md"
