#!/usr/bin/env bash
# GPU check for minigumbel: the test suite with the CuPy backend live, then
# `minigumbel bench --backend cupy --against torch`. Logs and JSON go to the directory $1.
#
#   bash scripts/gpu_check.sh OUTDIR
#
# Meant for a CUDA machine that already has NumPy, CuPy and PyTorch but no package registry:
# the pure-Python dependencies that are missing (autograd, click, pytest, hypothesis and theirs)
# are installed from the wheels in scripts/wheels/ into a private folder, nothing system-wide.
# Each step has a time limit, so the whole script ends in under 5 minutes.
# A dry run without a GPU (to test this script): GPU_CHECK_BACKEND=numpy bash scripts/gpu_check.sh OUTDIR
set -u
OUT=${1:?usage: bash scripts/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PYTHON:-python3}
BACKEND=${GPU_CHECK_BACKEND:-cupy}
START=$(date +%s)
cd "$ROOT"
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_check.log"; }

# 1. what is here
{ nvidia-smi || true; "$PY" -VV
  "$PY" -c "import numpy, cupy, torch; print('numpy', numpy.__version__, '| cupy', cupy.__version__, '| torch', torch.__version__, torch.version.cuda)"
} > "$OUT/environment.txt" 2>&1
log "environment written to environment.txt"

# 2. missing pure-Python dependencies, from the wheels carried beside this script
DEPS="$OUT/.deps"
mkdir -p "$DEPS"
need=()
"$PY" -c "import autograd" 2>/dev/null || need+=(autograd)
"$PY" -c "import click" 2>/dev/null || need+=(click)
"$PY" -c "import pytest, pluggy, iniconfig, packaging, pygments" 2>/dev/null || need+=(pytest pluggy iniconfig packaging pygments exceptiongroup tomli)
"$PY" -c "import hypothesis, sortedcontainers" 2>/dev/null || need+=(hypothesis sortedcontainers exceptiongroup)
wheels=()
for name in $(printf '%s\n' ${need[@]+"${need[@]}"} | sort -u); do
  wheels+=("$HERE"/wheels/"$name"-*.whl)
done
if [ ${#wheels[@]} -gt 0 ]; then
  log "installing from scripts/wheels: ${need[*]}"
  if ! "$PY" -m pip install --no-index --no-deps --quiet --target "$DEPS" "${wheels[@]}" >> "$OUT/gpu_check.log" 2>&1; then
    log "pip failed; importing the wheels as zip files instead"
    for w in "${wheels[@]}"; do DEPS="$DEPS:$w"; done
  fi
fi
export PYTHONPATH="$ROOT:$DEPS${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

# 3. the CuPy backend must answer, or the tests would skip it and prove nothing
if [ "$BACKEND" = cupy ] && ! "$PY" -c "from minigumbel.backend import get_backend; b = get_backend('cupy'); x = b.xp.ones(3); b.synchronize(); print('cupy backend OK on', b.xp.cuda.runtime.getDeviceProperties(0)['name'])" >> "$OUT/gpu_check.log" 2>&1; then
  log "FAILED: the CuPy backend is unavailable (see gpu_check.log)"; exit 1
fi

# 4. the test suite (the backend fixture adds CuPy cases when a device answers)
log "pytest ..."
timeout 150 "$PY" -m pytest -q -ra -p no:cacheprovider --junitxml="$OUT/pytest.xml" tests > "$OUT/pytest.log" 2>&1
PYTEST_RC=$?
log "pytest exit $PYTEST_RC: $(tail -n 1 "$OUT/pytest.log")"
log "test cases with 'cupy' in their name: $(grep -o '<testcase [^>]*name="[^"]*cupy[^"]*"' "$OUT/pytest.xml" 2>/dev/null | wc -l), of which skipped: $(grep -o '<testcase [^>]*name="[^"]*cupy[^"]*"[^/]*>[[:space:]]*<skipped' "$OUT/pytest.xml" 2>/dev/null | wc -l)"

# 5. the benchmark: fused kernels vs the readable path vs the unavoidable parts vs PyTorch CUDA
log "bench ..."
SIZES=()
[ "$BACKEND" = numpy ] && SIZES=(--sizes 64x16,1024x1024)
timeout 120 "$PY" -m minigumbel_cli.main bench --backend "$BACKEND" ${SIZES[@]+"${SIZES[@]}"} --against torch --repeats 20 \
  --parts gumbel,train --save "$OUT/bench_$BACKEND.json" > "$OUT/bench_$BACKEND.txt" 2> "$OUT/bench_$BACKEND.err"
BENCH_RC=$?
log "bench exit $BENCH_RC"
tee -a "$OUT/gpu_check.log" < "$OUT/bench_$BACKEND.txt"

log "done in $(( $(date +%s) - START )) s; pytest $PYTEST_RC, bench $BENCH_RC"
[ "$PYTEST_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
