#!/usr/bin/env bash
# Build the folder that travels to the GPU machine with `bench/gpu/run.py` (see bench/gpu/README.md):
#
#   bash bench/gpu/bundle.sh [DEST]        # DEST defaults to .gpu-bundle/ (ignored by git)
#
# - the wheels of bench/gpu/bundle-requirements.txt for CPython 3.12 on manylinux x86-64 (what the
#   machine's image lacks; it reaches no package index), comfy-kitchen repacked without its compiled
#   CUDA / ROCm kernels (176 MB + 59 MB unpacked: the fp8 / fp4 / int8 fast paths, unused by fp16 /
#   bf16 SD1.5, SDXL and FLUX);
# - the ComfyUI v0.33.0 source as a tarball: $NOISE_SEARCH_COMFY_TARBALL, else the shared
#   ../shared/hosts/comfyui-v0.33.0.tar.gz beside the checkout (or /work/shared/hosts/), else one made
#   from $NOISE_SEARCH_HOST/ComfyUI (the test host's, .host/ComfyUI by default);
# - MANIFEST.txt: every file with its size.
# Then checks that the bundle and this repo's tracked files stay inside the device's 64 MiB transfer
# limit, and fails if not.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$REPO/.gpu-bundle}"
PY="${PYTHON:-python3}"
LIMIT=$((64 * 1024 * 1024))
mkdir -p "$DEST"
rm -f "$DEST"/*.whl "$DEST"/*.tmp

echo "[bundle] wheels for CPython 3.12 manylinux x86-64 -> $DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
  --platform manylinux2010_x86_64 --platform manylinux1_x86_64 \
  -d "$DEST" -r "$REPO/bench/gpu/bundle-requirements.txt"

echo "[bundle] repacking comfy-kitchen without its compiled CUDA / ROCm kernels"
"$PY" - "$DEST" <<'PYEOF'
import glob, os, sys, zipfile
dest = sys.argv[1]
drop = ("comfy_kitchen/backends/cuda/_C.", "comfy_kitchen/backends/hip/_C.")
for whl in glob.glob(os.path.join(dest, "comfy_kitchen-*.whl")):
    tmp = whl + ".tmp"
    with zipfile.ZipFile(whl) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename.startswith(drop):
                continue
            data = zin.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                data = b"".join(l for l in data.splitlines(True) if not l.startswith(drop[0].encode())
                                and not l.startswith(drop[1].encode()))
            zout.writestr(item, data)
    os.replace(tmp, whl)
    print(f"[bundle]   {os.path.basename(whl)}: {os.path.getsize(whl) / 2**20:.1f} MiB")
PYEOF

TARBALL="${NOISE_SEARCH_COMFY_TARBALL:-}"
if [[ -z "$TARBALL" ]]; then
  for c in "$REPO/../shared/hosts/comfyui-v0.33.0.tar.gz" /work/shared/hosts/comfyui-v0.33.0.tar.gz; do
    if [[ -f "$c" ]]; then TARBALL="$c"; break; fi
  done
fi
if [[ -n "$TARBALL" ]]; then
  echo "[bundle] ComfyUI source: $TARBALL"
  cp "$TARBALL" "$DEST/comfyui-v0.33.0.tar.gz"
else
  SRC="${NOISE_SEARCH_HOST:-$REPO/.host}/ComfyUI"
  grep -q '"0.33.0"' "$SRC/comfyui_version.py" || { echo "[bundle] $SRC is not ComfyUI v0.33.0" >&2; exit 1; }
  echo "[bundle] ComfyUI source: a tarball of $SRC (no .git, models, output, user data)"
  tar -czf "$DEST/comfyui-v0.33.0.tar.gz" -C "$(dirname "$SRC")" \
    --exclude=.git --exclude='__pycache__' --exclude='ComfyUI/models/*/*.safetensors' \
    --exclude='ComfyUI/output/*' --exclude='ComfyUI/user' --exclude='ComfyUI/temp' --exclude='*.db' \
    --transform 's,^ComfyUI,ComfyUI-0.33.0,' ComfyUI
fi

cd "$DEST"
ls -l --time-style=+ | awk 'NR > 1 {print $5, $NF}' | grep -v MANIFEST > MANIFEST.txt
BUNDLE=$(awk '{s += $1} END {print s}' MANIFEST.txt)
TRACKED=$(cd "$REPO" && git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
TOTAL=$((BUNDLE + TRACKED))
printf '[bundle] bundle %.1f MiB + tracked files %.1f MiB = %.1f MiB of the 64 MiB that may travel\n' \
  "$(echo "$BUNDLE / 1048576" | bc -l)" "$(echo "$TRACKED / 1048576" | bc -l)" "$(echo "$TOTAL / 1048576" | bc -l)"
echo "bundle_bytes $BUNDLE" >> MANIFEST.txt
if (( TOTAL > LIMIT )); then
  echo "[bundle] too large for one device call: leave out more (bench/gpu/README.md)" >&2
  exit 1
fi
