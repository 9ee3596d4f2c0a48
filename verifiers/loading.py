"""Where verifier weights come from.

A *spec* string names the weights. :func:`resolve` turns it into a local path, trying in order:

1. an existing local path (a directory or a file; ``~`` is expanded);
2. a name relative to each ``search_dirs`` entry (the node layer passes ComfyUI's
   ``models/verifiers`` folders, including those added through ``extra_model_paths.yaml``);
3. a Hugging Face hub id (``org/name``, or ``org/name:filename`` for one file of a repo) looked up in
   the local Hugging Face cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``), with ``local_files_only=True`` so nothing ever waits on the network.
   Downloading happens only when ``allow_download`` is true (or ``NOISE_SEARCH_ALLOW_DOWNLOAD=1``)
   and ``HF_HUB_OFFLINE`` is not set.

When nothing matches, :class:`WeightsNotFoundError` names every place looked and says how to get the
weights (``huggingface-cli download ...`` or the folder to put a file in).

Nothing here loads anything at import time; this module never imports ComfyUI.
"""
from __future__ import annotations

import os
import re
from typing import Iterable, List, Optional, Sequence

import torch

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.\-]*/[\w.\-]+)(?::(?P<file>[^:/\\]+(?:/[^:/\\]+)*))?$")


class WeightsNotFoundError(FileNotFoundError):
    """Raised when a spec resolves nowhere; ``looked`` lists every place tried."""

    def __init__(self, message: str, looked: Sequence[str] = ()):
        super().__init__(message)
        self.looked = list(looked)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hf_cache_dir() -> str:
    """The hub cache directory, read from the environment *now* (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(home, "hub")


def hub_offline() -> bool:
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def parse_hub_id(spec: str):
    """``'org/name'`` → ('org/name', None); ``'org/name:file.pt'`` → ('org/name', 'file.pt'); else None."""
    m = HUB_ID.match(spec.strip())
    if not m:
        return None
    return m.group("repo"), m.group("file")


def _hub_lookup(repo: str, filename: Optional[str], required: Sequence[str], allow_download: bool,
                looked: List[str]) -> Optional[str]:
    cache = hf_cache_dir()
    folder = os.path.join(cache, "models--" + repo.replace("/", "--"))
    looked.append(f"Hugging Face cache: {folder} (hub id {repo}{':' + filename if filename else ''})")
    try:
        import huggingface_hub as hh
    except ImportError:  # pragma: no cover - huggingface_hub is a requirement
        return None
    download = allow_download and not hub_offline()
    try:
        if filename:
            if not download:
                p = hh.try_to_load_from_cache(repo, filename, cache_dir=cache)
                return p if isinstance(p, str) and os.path.exists(p) else None
            return hh.hf_hub_download(repo, filename, cache_dir=cache)
        path = hh.snapshot_download(repo, cache_dir=cache, local_files_only=not download)
    except Exception:  # not cached (LocalEntryNotFoundError & co), or a download that failed
        return None
    if path and all(os.path.exists(os.path.join(path, r)) for r in required):
        return path
    if path:
        looked[-1] += f" [snapshot {path} lacks {', '.join(r for r in required if not os.path.exists(os.path.join(path, r)))}]"
    return None


def resolve(spec: str, search_dirs: Iterable[str] = (), *, what: str = "verifier weights",
            required: Sequence[str] = (), default_filename: Optional[str] = None,
            allow_download: Optional[bool] = None, how_to_get: Optional[str] = None) -> str:
    """Resolve ``spec`` to an existing local path (file or directory).

    ``required``: file names that a resolved *directory* must contain (e.g. ``config.json``).
    ``default_filename``: for a hub id without ``:file``, fetch this file rather than a snapshot.
    """
    if spec is None or not str(spec).strip():
        raise ValueError(f"{what}: empty model spec; give a path, a name under models/verifiers, or a Hugging Face id")
    spec = str(spec).strip()
    if allow_download is None:
        allow_download = _env_true("NOISE_SEARCH_ALLOW_DOWNLOAD")
    looked: List[str] = []

    def ok(path: str) -> bool:
        if os.path.isdir(path):
            return all(os.path.exists(os.path.join(path, r)) for r in required)
        return os.path.isfile(path)

    p = os.path.expanduser(spec)
    looked.append(f"local path: {os.path.abspath(p)}")
    if os.path.exists(p):
        if ok(p):
            return os.path.abspath(p)
        looked[-1] += f" [exists but lacks {', '.join(required)}]"
    if not os.path.isabs(p):
        for d in search_dirs:
            cand = os.path.join(d, p)
            looked.append(f"models folder: {os.path.abspath(cand)}")
            if os.path.exists(cand):
                if ok(cand):
                    return os.path.abspath(cand)
                looked[-1] += f" [exists but lacks {', '.join(required)}]"
    hub = parse_hub_id(spec)
    if hub is not None:
        repo, filename = hub
        filename = filename or default_filename
        got = _hub_lookup(repo, filename, () if filename else required, allow_download, looked)
        if got:
            return got
    dirs = [str(d) for d in search_dirs]
    if how_to_get is None:
        if hub is not None:
            repo, filename = hub
            filename = filename or default_filename
            how_to_get = (f"download it with `huggingface-cli download {repo}"
                          f"{' ' + filename if filename else ''}` (it lands in the Hugging Face cache, "
                          f"{hf_cache_dir()})")
            if dirs:
                how_to_get += f", or put it in {dirs[0]}" + (f" as {filename}" if filename else f"/{repo.split('/')[-1]}/")
        else:
            how_to_get = (f"put it in {dirs[0]}" if dirs else "give an existing path") + \
                         ", or give a Hugging Face id (org/name) that is in the local cache"
    msg = (f"{what} {spec!r} not found. Looked in:\n  - " + "\n  - ".join(looked) +
           f"\nTo fix: {how_to_get}.")
    if hub is not None and hub_offline():
        msg += " (HF_HUB_OFFLINE is set, so nothing was downloaded.)"
    raise WeightsNotFoundError(msg, looked)


def list_local(search_dirs: Iterable[str], exts: Sequence[str] = (".pt", ".pth", ".bin", ".safetensors")) -> List[str]:
    """Names directly under the search dirs: model directories (with a config.json) and weight files."""
    names = []
    for d in search_dirs:
        if not os.path.isdir(d):
            continue
        for entry in sorted(os.listdir(d)):
            full = os.path.join(d, entry)
            if os.path.isdir(full) and (os.path.exists(os.path.join(full, "config.json"))
                                        or any(f.endswith(tuple(exts)) for f in os.listdir(full))):
                names.append(entry)
            elif os.path.isfile(full) and entry.endswith(tuple(exts)):
                names.append(entry)
    return sorted(dict.fromkeys(names))


def load_state_dict(path: str) -> dict:
    """A flat ``{name: tensor}`` from a .safetensors file or a torch checkpoint (``weights_only=True``).
    A checkpoint holding ``{'state_dict': ...}`` or ``{'model': ...}`` is unwrapped."""
    path = str(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"could not load {path} with torch.load(weights_only=True): {e}") from e
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise RuntimeError(f"{path} is not a state dict of tensors")
    return dict(sd)


def find_file(directory: str, names: Sequence[str], exts: Sequence[str] = ()) -> Optional[str]:
    """The first of ``names`` present in ``directory``, else the only file with one of ``exts``."""
    for n in names:
        p = os.path.join(directory, n)
        if os.path.isfile(p):
            return p
    if exts:
        found = [f for f in sorted(os.listdir(directory)) if f.endswith(tuple(exts))]
        if len(found) == 1:
            return os.path.join(directory, found[0])
    return None


__all__ = ["WeightsNotFoundError", "resolve", "list_local", "load_state_dict", "find_file",
           "hf_cache_dir", "hub_offline", "parse_hub_id"]
