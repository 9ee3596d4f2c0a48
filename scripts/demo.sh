#!/usr/bin/env bash
# Set up the host (first run: a minute or two) and run the demo workflow through a real ComfyUI.
#   bash scripts/demo.sh                              # tiny built-in test model
#   bash scripts/demo.sh --checkpoint ~/models/sd15.safetensors
# Writes demo-output/best.png, demo-output/candidates.png, demo-output/report.json.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup_host.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$REPO/.host/venv/bin/python" "$REPO/scripts/demo.py" "$@"
