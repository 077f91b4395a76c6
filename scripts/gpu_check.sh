#!/usr/bin/env bash
# GPU check for minigumbel, in two steps:
#
#   bash scripts/gpu_check.sh prepare [WHEELDIR]   # on any machine with a package registry
#   bash scripts/gpu_check.sh OUTDIR [WHEELDIR]    # on the CUDA machine (no registry needed)
#
# prepare: downloads the pure-Python wheels the GPU machine may lack (autograd, click, pytest,
#   hypothesis and theirs) into WHEELDIR (default scripts/gpu_wheels/, ignored by git; carry it to
#   the GPU machine with the checkout). PREPARE_PYTHON=3.X downloads for that Python version.
#   PREPARE_CTK=12 (or 13) also downloads cupy-cuda12x[ctk] with its CUDA libraries (NVRTC,
#   cuBLAS...; about 1 GB) for a machine whose CuPy cannot compile kernels.
# check: on a machine with NumPy and CuPy (PyTorch optional), installs what is missing from
#   WHEELDIR into OUTDIR/.deps (nothing system-wide), checks that the CuPy backend can compute,
#   runs the CuPy tests (`pytest -m cupy`, real CuPy), then `minigumbel bench --backend cupy`.
#   Every step has a time limit sized for a fresh GPU (first use compiles each CuPy kernel with
#   NVRTC); OUTDIR/summary.txt and summary.json are written at the end even when a step timed
#   out or the script itself is stopped. Limits (seconds): GPU_CHECK_PROBE_S (default 180),
#   GPU_CHECK_PYTEST_S (300), GPU_CHECK_BENCH_S (150); GPU_CHECK_FULL=1 runs the whole suite.
# Dry run without a GPU (the CuPy tests then run on the stand-in):
#   GPU_CHECK_BACKEND=numpy bash scripts/gpu_check.sh OUTDIR
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PYTHON:-python3}
PKGS="autograd click pytest pluggy iniconfig packaging pygments exceptiongroup tomli hypothesis sortedcontainers"

if [ "${1:-}" = prepare ]; then
  WHEELS=${2:-$HERE/gpu_wheels}
  mkdir -p "$WHEELS"
  extra=()
  [ -n "${PREPARE_PYTHON:-}" ] && extra=(--python-version "$PREPARE_PYTHON")
  set -e
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$WHEELS" ${extra[@]+"${extra[@]}"} $PKGS
  if [ -n "${PREPARE_CTK:-}" ]; then
    "$PY" -m pip download --quiet --only-binary=:all: --dest "$WHEELS" ${extra[@]+"${extra[@]}"} \
      --platform manylinux2014_x86_64 "cupy-cuda${PREPARE_CTK}x[ctk]"
  fi
  echo "wheels in $WHEELS:"; ls "$WHEELS"
  exit 0
fi

OUT=${1:?usage: bash scripts/gpu_check.sh prepare [WHEELDIR] | bash scripts/gpu_check.sh OUTDIR [WHEELDIR]}
WHEELS=${2:-$HERE/gpu_wheels}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BACKEND=${GPU_CHECK_BACKEND:-cupy}
PROBE_S=${GPU_CHECK_PROBE_S:-180}
PYTEST_S=${GPU_CHECK_PYTEST_S:-300}
BENCH_S=${GPU_CHECK_BENCH_S:-150}
START=$(date +%s)
cd "$ROOT"
: > "$OUT/steps.tsv"
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_check.log"; }

# step NAME LIMIT_S CMD...: run with a time limit (SIGINT first, so pytest still writes its report),
# record "name rc seconds timed_out" in steps.tsv
step() {
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s)
  timeout --signal=INT --kill-after=20 "$limit" "$@"
  local rc=$?
  local timed_out=0
  { [ $rc -eq 124 ] || [ $rc -eq 137 ] || [ $rc -eq 130 ]; } && timed_out=1
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" "$timed_out" >> "$OUT/steps.tsv"
  log "$name: exit $rc$([ $timed_out = 1 ] && echo " (TIMED OUT after ${limit} s)")"
  return $rc
}

summary() {   # always runs (trap): steps, pytest counts from the JUnit XML, bench JSON
  "$PY" - "$OUT" "$BACKEND" <<'EOF' || echo "summary failed" >> "$OUT/summary.txt"
import json, os, sys, xml.etree.ElementTree as ET
out, backend = sys.argv[1], sys.argv[2]
steps = []
for line in open(os.path.join(out, "steps.tsv")):
    name, rc, secs, timed_out = line.rstrip("\n").split("\t")
    steps.append({"step": name, "exit": int(rc), "seconds": int(secs), "timed_out": timed_out == "1"})
tests = None
xml = os.path.join(out, "pytest.xml")
if os.path.exists(xml):
    suites = ET.parse(xml).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    tests = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    tests["passed"] = tests["tests"] - tests["failures"] - tests["errors"] - tests["skipped"]
bench = os.path.join(out, f"bench_{backend}.json")
result = {"backend": backend, "steps": steps, "pytest": tests,
          "bench_json": os.path.basename(bench) if os.path.exists(bench) else None,
          "ok": bool(steps) and all(s["exit"] == 0 for s in steps)}
json.dump(result, open(os.path.join(out, "summary.json"), "w"), indent=1)
with open(os.path.join(out, "summary.txt"), "w") as f:
    for s in steps:
        f.write(f"{s['step']:<10} exit {s['exit']:<4} {s['seconds']:>4} s{'  TIMED OUT' if s['timed_out'] else ''}\n")
    f.write(f"pytest: {tests if tests else 'no report (the step did not run or was killed)'}\n")
    f.write(f"bench JSON: {result['bench_json'] or 'none'}\nOK: {result['ok']}\n")
print(open(os.path.join(out, "summary.txt")).read(), end="")
EOF
}
trap 'summary; trap - EXIT; exit' EXIT
trap 'log "stopped by a signal"; exit 143' INT TERM

# 1. what is here
{ nvidia-smi || true; "$PY" -VV
  "$PY" -c "import numpy; print('numpy', numpy.__version__)"
  "$PY" -c "import cupy; print('cupy', cupy.__version__)"
  "$PY" -c "import torch; print('torch', torch.__version__, torch.version.cuda)"
} > "$OUT/environment.txt" 2>&1
log "environment written to environment.txt"

# 2. missing pure-Python dependencies, from the prepared wheels
DEPS="$OUT/.deps"
mkdir -p "$DEPS"
need=()
"$PY" -c "import autograd" 2>/dev/null || need+=(autograd)
"$PY" -c "import click" 2>/dev/null || need+=(click)
"$PY" -c "import pytest, pluggy, iniconfig, packaging, pygments" 2>/dev/null || need+=(pytest pluggy iniconfig packaging pygments exceptiongroup tomli)
"$PY" -c "import hypothesis, sortedcontainers" 2>/dev/null || need+=(hypothesis sortedcontainers exceptiongroup)
wheels=()
for name in $(printf '%s\n' ${need[@]+"${need[@]}"} | sort -u); do
  found=("$WHEELS"/"$name"-*.whl)
  if [ -e "${found[0]}" ]; then wheels+=("${found[@]}"); else log "MISSING wheel for $name in $WHEELS (run: bash scripts/gpu_check.sh prepare)"; fi
done
if [ ${#wheels[@]} -gt 0 ]; then
  log "installing from $WHEELS: ${need[*]}"
  if ! "$PY" -m pip install --no-index --no-deps --quiet --target "$DEPS" "${wheels[@]}" >> "$OUT/gpu_check.log" 2>&1; then
    log "pip failed; importing the wheels as zip files instead"
    for w in "${wheels[@]}"; do DEPS="$DEPS:$w"; done
  fi
fi
export PYTHONPATH="$ROOT:$DEPS${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
# the folder cli/ installs as minigumbel_cli: without an install, a link under that name
[ -e "$OUT/.deps/minigumbel_cli" ] || ln -s "$ROOT/cli" "$OUT/.deps/minigumbel_cli"

# 3. the CuPy backend must compute (its first kernels compile here), or the tests prove nothing
if [ "$BACKEND" = cupy ]; then
  step probe "$PROBE_S" "$PY" -c "from minigumbel.backend import get_backend; b = get_backend('cupy'); b.synchronize(); print('cupy backend OK on', b.xp.cuda.runtime.getDeviceProperties(0)['name'])" \
    >> "$OUT/gpu_check.log" 2>&1 || { log "FAILED: the CuPy backend is unavailable (see gpu_check.log)"; exit 1; }
  export MINIGUMBEL_TEST_CUPY=real
fi

# 4. the CuPy tests (real CuPy with a GPU; the stand-in in a dry run), or the whole suite
SELECT=(-m cupy)
[ "${GPU_CHECK_FULL:-0}" = 1 ] && SELECT=()
log "pytest ${SELECT[*]+"${SELECT[*]}"} (limit ${PYTEST_S} s) ..."
step pytest "$PYTEST_S" "$PY" -m pytest -q -ra -p no:cacheprovider --junitxml="$OUT/pytest.xml" \
  ${SELECT[@]+"${SELECT[@]}"} tests > "$OUT/pytest.log" 2>&1
log "pytest: $(tail -n 1 "$OUT/pytest.log")"

# 5. the benchmark: fused kernels vs the readable path vs the unavoidable parts (vs PyTorch if present)
AGAINST=()
"$PY" -c "import torch" 2>/dev/null && AGAINST=(--against torch)
SIZES=()
[ "$BACKEND" = numpy ] && SIZES=(--sizes 64x16,1024x1024)
log "bench (limit ${BENCH_S} s) ..."
step bench "$BENCH_S" "$PY" -m minigumbel_cli.main bench --backend "$BACKEND" ${SIZES[@]+"${SIZES[@]}"} \
  ${AGAINST[@]+"${AGAINST[@]}"} --repeats 20 --parts gumbel,train --json "$OUT/bench_$BACKEND.json" \
  > "$OUT/bench_$BACKEND.txt" 2> "$OUT/bench_$BACKEND.err"
tee -a "$OUT/gpu_check.log" < "$OUT/bench_$BACKEND.txt"
log "done in $(( $(date +%s) - START )) s"
