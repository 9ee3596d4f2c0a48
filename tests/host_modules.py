"""Scripts against the real ComfyUI modules of the host install (CPU, the core NOISE_SEARCH_CORE
picks), without a server. Each runs in a subprocess so ComfyUI's module-level state (args,
folder_paths, loaded models) never leaks into other tests. A script starts with :data:`PRELUDE`,
gets ROOT, COMFY and TMP (a scratch folder, ComfyUI's models dir below it) and prints OK at the end."""
import os
import subprocess
import sys
from pathlib import Path

from scripts.host import COMFY

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = r'''
import importlib, json, logging, os, sys, types
ROOT, COMFY, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.append(COMFY)
sys.path.append(ROOT)  # after ComfyUI: its own top-level "nodes" module must win
import comfy.cli_args
comfy.cli_args.args.cpu = True
import folder_paths
folder_paths.models_dir = os.path.join(TMP, "models")
import torch
torch.set_num_threads(1)
# load the pack as a package (as ComfyUI does), skipping nodes/__init__ (the node registry)
pkg = types.ModuleType("nspack"); pkg.__path__ = [ROOT]; sys.modules["nspack"] = pkg
sub = types.ModuleType("nspack.nodes"); sub.__path__ = [os.path.join(ROOT, "nodes")]; sys.modules["nspack.nodes"] = sub
'''


def assert_host_installed():
    # no skip: these tests need the host's modules, which scripts/setup_host.sh installs
    assert (COMFY / "comfy" / "model_management.py").exists(), \
        f"host ComfyUI not installed at {COMFY}: run scripts/setup_host.sh"


def run_script(script: str, tmp_path: Path, *extra: str, timeout: float = 300) -> str:
    """Run ``script`` (PRELUDE included by the caller) offline on one thread; assert it printed OK."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    r = subprocess.run([sys.executable, "-c", script, str(ROOT), str(COMFY), str(tmp_path), *extra],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout[-3000:] + r.stderr[-6000:]
    return r.stdout
