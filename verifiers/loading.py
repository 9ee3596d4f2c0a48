"""Where verifier weights come from.

A *spec* string names the weights. :func:`resolve` turns it into a local path, trying in order:

1. an existing local path (a directory or a file; ``~`` is expanded);
2. a name relative to each ``search_dirs`` entry (the node layer passes ComfyUI's
   ``models/verifiers`` folders, including those added through ``extra_model_paths.yaml``);
3. a Hugging Face hub id (``org/name``, or ``org/name:filename`` for one file of a repo) looked up in
   the local Hugging Face cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``), with ``local_files_only=True``; a hub id is also looked for as
   ``<models folder>/<name>/`` (and ``<name>/<file>``), where downloads land;
4. a download (see :mod:`verifiers.download`) into ``<first models folder>/<name>/`` (the Hugging
   Face cache when there is no models folder). On by default; off when ``allow_download`` is false,
   ``NOISE_SEARCH_ALLOW_DOWNLOAD=0``, or ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` is set.

A folder that an interrupted snapshot download left unfinished (its marker lists files still
missing, see :mod:`verifiers.download`) is not found; the download step resumes it.

When nothing matches, :class:`WeightsNotFoundError` names every place looked and says how to get the
weights (``hf download ...`` or the folder to put a file in).

Nothing here loads anything at import time; this module never imports ComfyUI.
"""
from __future__ import annotations

import os
import pickle
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


def downloads_enabled(allow_download: Optional[bool] = None) -> bool:
    """Whether a missing hub id may be downloaded now: ``allow_download`` (None: the environment's
    ``NOISE_SEARCH_ALLOW_DOWNLOAD``, on unless 0/false/no/off) and not offline."""
    if allow_download is None:
        from .download import allowed_by_settings
        allow_download = allowed_by_settings()
    if allow_download is None:
        allow_download = os.environ.get("NOISE_SEARCH_ALLOW_DOWNLOAD", "1").strip().lower() not in ("0", "false", "no", "off")
    return bool(allow_download) and not hub_offline()


def parse_hub_id(spec: str):
    """``'org/name'`` → ('org/name', None); ``'org/name:file.pt'`` → ('org/name', 'file.pt'); else None."""
    m = HUB_ID.match(spec.strip())
    if not m:
        return None
    return m.group("repo"), m.group("file")


def _hub_lookup(repo: str, filename: Optional[str], required: Sequence[str], looked: List[str]) -> Optional[str]:
    cache = hf_cache_dir()
    folder = os.path.join(cache, "models--" + repo.replace("/", "--"))
    looked.append(f"Hugging Face cache: {folder} (hub id {repo}{':' + filename if filename else ''})")
    try:
        import huggingface_hub as hh
    except ImportError:  # pragma: no cover - huggingface_hub is a requirement
        return None
    try:
        if filename:
            p = hh.try_to_load_from_cache(repo, filename, cache_dir=cache)
            return p if isinstance(p, str) and os.path.exists(p) else None
        path = hh.snapshot_download(repo, cache_dir=cache, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError & co)
        return None
    from .download import cache_repo_folder, unfinished
    missing = unfinished(cache_repo_folder(repo), path) if path else None
    if missing:
        looked[-1] += f" [an unfinished download: {_lacks(missing)}]"
        return None
    if path and all(os.path.exists(os.path.join(path, r)) for r in required):
        return path
    if path:
        looked[-1] += f" [snapshot {path} lacks {', '.join(r for r in required if not os.path.exists(os.path.join(path, r)))}]"
    return None


def resolve(spec: str, search_dirs: Iterable[str] = (), *, what: str = "verifier weights",
            required: Sequence[str] = (), default_filename: Optional[str] = None,
            allow_download: Optional[bool] = None, how_to_get: Optional[str] = None,
            allow_patterns: Optional[Sequence[str]] = None) -> str:
    """Resolve ``spec`` to an existing local path (file or directory).

    ``required``: file names that a resolved *directory* must contain (e.g. ``config.json``).
    ``default_filename``: for a hub id without ``:file``, fetch this file rather than a snapshot.
    ``allow_patterns``: for a snapshot download, the files to fetch (default: weights and configs).
    """
    if spec is None or not str(spec).strip():
        raise ValueError(f"{what}: empty model spec; give a path, a name under models/verifiers, or a Hugging Face id")
    spec = str(spec).strip()
    dirs = [str(d) for d in search_dirs]
    hub = parse_hub_id(spec)
    repo, filename = (hub[0], hub[1] or default_filename) if hub else (None, None)
    looked: List[str] = []

    from .download import unfinished

    def ok(path: str) -> bool:
        if os.path.isdir(path):
            return unfinished(path) is None and all(os.path.exists(os.path.join(path, r)) for r in required)
        return os.path.isfile(path)

    def try_path(label: str, path: str) -> Optional[str]:
        looked.append(f"{label}: {os.path.abspath(path)}")
        if os.path.exists(path):
            if ok(path):
                return os.path.abspath(path)
            missing = unfinished(path) if os.path.isdir(path) else None
            looked[-1] += (f" [an unfinished download: {_lacks(missing)}]" if missing
                           else f" [exists but lacks {', '.join(required)}]")
        return None

    p = os.path.expanduser(spec)
    # a hub id is not looked for relative to the working directory (ComfyUI's is arbitrary)
    candidates = [] if (hub and not os.path.isabs(p)) else [("local path", p)]
    if not os.path.isabs(p):
        for d in dirs:
            if not hub:
                candidates.append(("models folder", os.path.join(d, p)))
                continue
            full, local = os.path.join(d, repo), os.path.join(d, local_name(repo))
            if filename:
                candidates += [("models folder", os.path.join(x, filename)) for x in (full, local, d)]
            else:
                candidates += [("models folder", full), ("models folder", local)]
    for label, path in dict.fromkeys(candidates):
        got = try_path(label, path)
        if got:
            return got
    if hub is not None:
        got = _hub_lookup(repo, filename, () if filename else required, looked)
        if got:
            return got
        if downloads_enabled(allow_download):
            from .download import download
            target = os.path.join(dirs[0], local_name(repo)) if dirs else None
            got = download(repo, filename, target, looked, allow_patterns=allow_patterns)
            if got and ok(got):
                return got
    raise WeightsNotFoundError(_not_found_message(spec, what, looked, dirs, repo, filename, how_to_get, allow_download), looked)


def _lacks(missing: Sequence[str]) -> str:
    return "lacks " + ", ".join(list(missing)[:5]) + (" ..." if len(missing) > 5 else "") + \
        " (it resumes when downloads are on)"


def local_name(repo: str) -> str:
    """The folder a hub repo lives in under models/verifiers: its name without the org."""
    return repo.split("/")[-1]


def _not_found_message(spec, what, looked, dirs, repo, filename, how_to_get, allow_download) -> str:
    if how_to_get is None:
        if repo is not None:
            where = os.path.join(dirs[0], local_name(repo)) if dirs else None
            how_to_get = f"download it with `hf download {repo}{' ' + filename if filename else ''}"
            how_to_get += f" --local-dir {where}`" if where else "` (it lands in the Hugging Face cache, " + hf_cache_dir() + ")"
            if where:
                how_to_get += f", or put {'the file' if filename else 'the files'} in {where}/ yourself"
        else:
            how_to_get = (f"put it in {dirs[0]}" if dirs else "give an existing path") + \
                         ", or give a Hugging Face id (org/name) that is in the local cache"
    msg = (f"{what} {spec!r} not found. Looked in:\n  - " + "\n  - ".join(looked) +
           f"\nTo fix: {how_to_get}.")
    if repo is not None:
        if hub_offline():
            msg += " (HF_HUB_OFFLINE is set, so nothing was downloaded.)"
        elif not downloads_enabled(allow_download):
            msg += " (Downloads are switched off: the node's 'download' input, or NOISE_SEARCH_ALLOW_DOWNLOAD=0.)"
    return msg


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
        try:
            return load_file(path)
        except Exception as e:  # SafetensorError: a bad header or a short file
            raise RuntimeError(_corrupt(path, e)) from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) or "weights_only" in str(e).lower():
            raise RuntimeError(
                f"{path} holds pickled Python objects, not only tensors, so it is not loaded (loading it "
                "could run code from the file). Use the official weights file, or save a plain state dict "
                "of tensors (torch.save(model.state_dict(), path)) or a .safetensors file.") from None
        raise RuntimeError(_corrupt(path, e)) from None
    except Exception as e:  # zip / EOF errors from a truncated or damaged file
        raise RuntimeError(_corrupt(path, e)) from None
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise RuntimeError(f"{path} is not a state dict of tensors")
    return dict(sd)


def _corrupt(path: str, e: Exception) -> str:
    reason = next((line.strip() for line in str(e).splitlines()
                   if line.strip() and "weights_only" not in line), type(e).__name__)
    return (f"{path} is corrupt or truncated ({reason[:200]}). Delete it and download it again (an interrupted "
            "download leaves a short file; `hf download` resumes and checks it), or copy it again from its source.")


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
           "hf_cache_dir", "hub_offline", "parse_hub_id",
           "downloads_enabled", "local_name"]
