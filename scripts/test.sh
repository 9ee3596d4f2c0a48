#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite (unit, host, browser).
#
#   bash scripts/test.sh [pytest args]
#
# Installs: the ComfyUI host (scripts/setup_host.sh: venv, CPU torch, ComfyUI 0.3.75, this pack's
# requirements, test tools) and Debian's Chromium for the browser tests. Then runs pytest with
# torch on one CPU thread (results are compared bit for bit across batch sizes).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup_host.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "[test] installing Debian's chromium for the browser tests"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
exec .host/venv/bin/python -m pytest "$@"
