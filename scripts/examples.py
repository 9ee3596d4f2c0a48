"""Where the example workflows live, which real models they name, and how the tests, the demo and the
thumbnail run put the tiny test models in their place.

- ``example_workflows/NAME.json``: UI format, what the frontend's Template Browser lists (the host lists
  every ``*.json`` directly in that folder, not in subfolders) and what users drag in; ``NAME.jpg`` beside
  it is the template's thumbnail (the frontend asks for ``/api/workflow_templates/<pack>/NAME.jpg``).
- ``api_workflows/NAME.api.json``: the API-format twin, for scripts (``scripts/demo.py``) and tests; a
  folder the host does not list as templates.

The workflows name the models a user loads, as their publishers distribute them; the loader nodes carry
``properties.models`` (name, url, directory), which the frontend reads to offer a missing model's download.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
UI_DIR = REPO / "example_workflows"
API_DIR = REPO / "api_workflows"
TINY_NAME = "tiny_sd15.safetensors"

#: the checkpoints the examples load (a file the frontend offers to download into models/<directory>)
SD15 = "v1-5-pruned-emaonly-fp16.safetensors"
SDXL = "sd_xl_base_1.0.safetensors"
FLUX1_DEV = "flux1-dev-fp8.safetensors"
MODELS: Dict[str, Dict[str, str]] = {
    SD15: {"name": SD15, "directory": "checkpoints",
           "url": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
                  "v1-5-pruned-emaonly-fp16.safetensors"},
    SDXL: {"name": SDXL, "directory": "checkpoints",
           "url": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/"
                  "sd_xl_base_1.0.safetensors"},
    # FLUX.1 [dev] with its text encoders and VAE in one checkpoint file, for CheckpointLoaderSimple
    FLUX1_DEV: {"name": FLUX1_DEV, "directory": "checkpoints",
                "url": "https://huggingface.co/Comfy-Org/flux1-dev/resolve/main/flux1-dev-fp8.safetensors"},
}
#: checkpoints that are flow models: the tiny SD1.5-layout stand-in gets ModelSamplingSD3 to be one too
FLOW_CHECKPOINTS = {FLUX1_DEV}


def api_files() -> List[Path]:
    return sorted(API_DIR.glob("*.api.json"))


def ui_files() -> List[Path]:
    return sorted(UI_DIR.glob("*.json"))


def name_of(path: Path) -> str:
    n = path.name
    return n[: -len(".api.json")] if n.endswith(".api.json") else n[: -len(".json")]


def models_of(api: Dict[str, Any]) -> Dict[str, List[Dict[str, str]]]:
    """Node id -> the ``properties.models`` entries for the real models that node's inputs name."""
    out: Dict[str, List[Dict[str, str]]] = {}
    for nid, node in api.items():
        found = [dict(MODELS[v]) for v in node["inputs"].values() if isinstance(v, str) and v in MODELS]
        if found:
            out[nid] = found
    return out


def substitute_tiny(wf: Dict[str, Any], size: int = 64, ckpt: str = TINY_NAME) -> Dict[str, Any]:
    """The API workflow ``wf`` on the tiny test checkpoint (or ``ckpt``) at ``size`` px: every
    checkpoint loader loads ``ckpt``; a FLUX checkpoint's loader is followed by ModelSamplingSD3, so
    the stand-in samples as a rectified-flow model as FLUX does, on a 4-channel empty latent; empty
    latents get ``size`` (a later latent upscale keeps its factor)."""
    wf = copy.deepcopy(wf)
    for nid, node in list(wf.items()):
        if node["class_type"] == "CheckpointLoaderSimple":
            flow = node["inputs"]["ckpt_name"] in FLOW_CHECKPOINTS
            node["inputs"]["ckpt_name"] = ckpt
            if flow:
                sid = f"{nid}_flow_standin"
                for other in wf.values():
                    for k, v in other["inputs"].items():
                        if v == [nid, 0]:
                            other["inputs"][k] = [sid, 0]
                wf[sid] = {"class_type": "ModelSamplingSD3", "inputs": {"model": [nid, 0], "shift": 3.0}}
        if node["class_type"] == "EmptySD3LatentImage":  # FLUX's 16-channel latent; the stand-in has 4
            node["class_type"] = "EmptyLatentImage"
        if size and node["class_type"] == "EmptyLatentImage":
            node["inputs"]["width"] = node["inputs"]["height"] = size
    return wf


def substitute_tiny_ui(graph: Dict[str, Any], ckpt: str = TINY_NAME) -> Dict[str, Any]:
    """The UI workflow ``graph`` with every checkpoint loader on ``ckpt`` (what the browser tests load)."""
    graph = copy.deepcopy(graph)
    for node in graph["nodes"]:
        if node["type"] == "CheckpointLoaderSimple":
            node["widgets_values"][0] = ckpt
    return graph


def make_tiny_verifiers(verifiers_dir: Path) -> Path:
    """Tiny random-weight stand-ins, under the default names the examples use, in ``models/verifiers``."""
    from tests import tiny_models as T
    from scripts.make_ui_workflows import AESTHETIC_HEAD, CLIP, IMAGE_REWARD, VLM
    d = Path(verifiers_dir)
    if not (d / CLIP / "config.json").exists():
        T.make_clip_dir(str(d / CLIP), seed=0)
    if not (d / IMAGE_REWARD / "ImageReward.pt").exists():
        T.make_image_reward_files(str(d / IMAGE_REWARD), seed=0)
    if not (d / AESTHETIC_HEAD).exists():
        T.make_aesthetic_head(str(d / AESTHETIC_HEAD), dim=16, seed=0)  # the sac+logos+ava1 MLP layout
    if not (d / VLM / "config.json").exists():
        from tests.tiny_vlm import make_vlm_dir
        make_vlm_dir(str(d / VLM), seed=0)
    return d
