"""Where verifier weights are found and how a verifier node loads them: ``models/verifiers``
(registered here as a ComfyUI model folder, so ``extra_model_paths.yaml`` can add more with a
``verifiers:`` entry) or the Hugging Face cache; downloads on ComfyUI's progress bar; loaded
verifiers shared between nodes asking for the same thing; errors naming the node's input."""
from __future__ import annotations

import os
import weakref
from typing import List

import folder_paths

from ..verifiers import download, list_local

FOLDER = "verifiers"
folder_paths.add_model_folder_path(FOLDER, os.path.join(folder_paths.models_dir, FOLDER))
try:  # a folder created by add_model_folder_path has no extension filter; give it the usual one
    folder_paths.folder_names_and_paths[FOLDER][1].update(folder_paths.supported_pt_extensions)
except Exception:
    pass



def search_dirs() -> List[str]:
    try:
        return folder_paths.get_folder_paths(FOLDER)
    except Exception:
        return [os.path.join(folder_paths.models_dir, FOLDER)]


def model_choices(default: str, exts=(".pt", ".pth", ".bin", ".safetensors"), files: bool = True,
                  dirs: bool = True) -> List[str]:
    """Default hub id first, then what is under models/verifiers (folders and/or weight files)."""
    found = []
    for name in list_local(search_dirs(), exts):
        full = next((os.path.join(d, name) for d in search_dirs() if os.path.exists(os.path.join(d, name))), None)
        if full is None:
            continue
        if (os.path.isdir(full) and dirs) or (os.path.isfile(full) and files):
            found.append(name)
    return list(dict.fromkeys([default] + found))


def _spec(model: str, override: str) -> str:
    return (override or "").strip() or (model or "").strip()


_CACHE: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _cached(key, build):
    v = _CACHE.get(key)
    if v is None:
        v = build()
        _CACHE[key] = v
    return v


def _fail(node: str, inp: str, value, e: Exception):
    raise RuntimeError(f"{node}: input '{inp}' = {value!r}: {e}") from e


class _ComfyProgress:
    """Download progress on ComfyUI's progress bar (one bar per file, in bytes)."""

    def __init__(self):
        self.bar, self.desc = None, None

    def __call__(self, desc, done, total):
        if not total:
            return
        import comfy.utils
        if self.bar is None or desc != self.desc:
            self.bar, self.desc = comfy.utils.ProgressBar(int(total)), desc
        self.bar.update_absolute(int(done), int(total))


def _downloads(allow):
    """Downloads of missing weights while a node loads: on unless ``allow`` is False (the node's
    'download' input), NOISE_SEARCH_ALLOW_DOWNLOAD=0, or HF_HUB_OFFLINE; shown on ComfyUI's bar."""
    return download.settings(allow=None if allow else False, progress=_ComfyProgress())


def _load(node: str, inp: str, value, key, build, allow_download=True):
    try:
        with _downloads(allow_download):
            return _cached(key, build)
    except Exception as e:  # noqa: BLE001 - re-raised naming the input
        _fail(node, inp, value, e)


