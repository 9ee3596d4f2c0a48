#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite on both hosts.
#
#   bash scripts/test.sh               # the four passes below
#   bash scripts/test.sh [pytest args] # only pytest with these arguments, on the current host
#                                      # (NOISE_SEARCH_CORE=floor / NOISE_SEARCH_FRONTEND=1.58.1 pick another)
#
# Installs: the ComfyUI hosts (scripts/setup_host.sh: venv, CPU torch, ComfyUI v0.33.0 and the 0.3.75
# floor, frontends, this pack's requirements, test tools) and Debian's Chromium for the browser tests.
# Then runs pytest with torch on one CPU thread (results are compared bit for bit across batch sizes):
#   1. every test (unit, host, browser) on the current host: ComfyUI v0.33.0, its pinned frontend 1.48.7
#   2. the host and browser tests on the floor: ComfyUI 0.3.75 with its pinned frontend 1.32.9
#      (less the demo, benchmark smoke and GPU dry-run tests, which run on the current host: the GPU run
#      carries v0.33.0)
#   3. the browser tests with the newest frontend on PyPI, 1.58.1, on the current core
#   4. the unit tests and the verifier host tests on the oldest transformers / huggingface_hub /
#      safetensors / open_clip the requirements allow (.host/floor-deps first on PYTHONPATH,
#      scripts/floor-deps.txt; tests/unit/test_floor_deps.py checks that they are the ones imported)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
HOST="${NOISE_SEARCH_HOST:-$REPO/.host}"

bash scripts/setup_host.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "[test] installing Debian's chromium for the browser tests"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
PY="$HOST/venv/bin/python"
if [[ $# -gt 0 ]]; then
  exec "$PY" -m pytest "$@"
fi
ART="$REPO/test-artifacts"
t0=$(date +%s)
echo "[test] 1/4: all tests on the current host (ComfyUI v0.33.0, frontend 1.48.7)"
NOISE_SEARCH_ARTIFACTS="$ART/current" "$PY" -m pytest
echo "[test] 2/4: host and browser tests on the floor (ComfyUI 0.3.75, frontend 1.32.9)"
# (the demo, the benchmarks and the GPU run's dry run run on the current host only, as the README's demo
# command does; the GPU bundle carries v0.33.0)
NOISE_SEARCH_CORE=floor NOISE_SEARCH_ARTIFACTS="$ART/floor" "$PY" -m pytest tests/host tests/browser \
  --ignore=tests/host/test_demo.py --ignore=tests/host/test_bench_smoke.py --ignore=tests/host/test_gpu_dry_run.py
echo "[test] 3/4: browser tests with frontend 1.58.1 on the current core"
NOISE_SEARCH_FRONTEND=1.58.1 NOISE_SEARCH_ARTIFACTS="$ART/frontend-1.58.1" "$PY" -m pytest tests/browser
echo "[test] 4/4: unit and verifier host tests on the oldest transformers / huggingface_hub / open_clip allowed"
t4=$(date +%s)
PYTHONPATH="$HOST/floor-deps${PYTHONPATH:+:$PYTHONPATH}" NOISE_SEARCH_DEPS=floor NOISE_SEARCH_ARTIFACTS="$ART/floor-deps" \
  "$PY" -m pytest tests/unit tests/host/test_verifiers_host.py tests/host/test_new_verifiers_host.py
echo "[test] 4/4 took $(( $(date +%s) - t4 )) s"
echo "[test] all four passes passed in $(( $(date +%s) - t0 )) s"
