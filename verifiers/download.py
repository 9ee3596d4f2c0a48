"""Fetch missing verifier weights from the Hugging Face hub, file by file, into a models folder.

Used by :func:`verifiers.loading.resolve` when a hub id is found nowhere locally and downloads are
enabled. ``HF_ENDPOINT`` is read at call time (a mirror, or a local test server). A snapshot fetches
the repo's top-level configs and weights only (``*.json``, ``*.safetensors``, ``*.txt``, tokenizer
files; ``*.bin``/``*.pt`` only when the repo has no safetensors), never code.

:func:`settings` lets the caller (the node layer) switch downloads off or on and receive progress
``(description, bytes_done, bytes_total)`` for a progress bar, without threading arguments through
every loader. With huggingface_hub >= 1.1 (``hf_hub_download(tqdm_class=...)``) the bar follows the
bytes of each file; with older releases it moves file by file (each file's bar jumps to its size).

A snapshot download first writes :data:`MARKER` into its folder, listing the files it will fetch,
and removes it once all are there. A folder whose marker lists a file that is missing is an
unfinished download (interrupted between files): :func:`unfinished` says so, the loader does not
count it as found, and the next download resumes it (files already complete are kept).
Never imports ComfyUI.
"""
from __future__ import annotations

import contextlib
import fnmatch
import inspect
import json
import logging
import os
from typing import Callable, List, Optional, Sequence

log = logging.getLogger("noise_search.verifiers")

WEIGHT_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken")
FALLBACK_WEIGHTS = ("*.bin", "*.pt", "*.pth")
Progress = Callable[[str, int, Optional[int]], None]
#: written into a snapshot folder before its files are fetched, removed when all are there
MARKER = ".noise-search-download.json"

_SETTINGS = {"allow": None, "progress": None}


@contextlib.contextmanager
def settings(allow: Optional[bool] = None, progress: Optional[Progress] = None):
    """Within the block: ``allow`` (None: the environment decides) and a progress callback."""
    old = dict(_SETTINGS)
    _SETTINGS.update(allow=allow, progress=progress)
    try:
        yield
    finally:
        _SETTINGS.update(old)


def allowed_by_settings() -> Optional[bool]:
    return _SETTINGS["allow"]


def pick_files(names: Sequence[str], patterns: Optional[Sequence[str]] = None) -> List[str]:
    """The top-level files of a repo listing to fetch."""
    top = [n for n in names if "/" not in n]
    match = lambda pats: [n for n in top if any(fnmatch.fnmatch(n, p) for p in pats)]
    if patterns:
        return match(patterns)
    files = match(WEIGHT_PATTERNS)
    if not any(f.endswith(".safetensors") for f in files):
        files += match(FALLBACK_WEIGHTS)
    return files


def _bar_class(callback: Progress, desc: str):
    from tqdm.auto import tqdm

    class Bar(tqdm):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._done, self._total = kw.get("initial") or 0, kw.get("total")
            callback(desc, self._done, self._total)

        def update(self, n=1):
            self._done += n or 0
            callback(desc, self._done, self._total)
            return super().update(n)

    return Bar


def _takes_tqdm_class(fn) -> bool:
    """huggingface_hub >= 1.1 takes ``tqdm_class`` (older releases reject the keyword)."""
    try:
        return "tqdm_class" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - a C function or an odd wrapper
        return False


def unfinished(folder: str, files_in: Optional[str] = None) -> Optional[List[str]]:
    """The files an interrupted snapshot download into ``folder`` still lacks (None: not one).
    ``files_in``: where the files are when not beside the marker (the HF cache keeps the marker in
    the repo's folder and the files in its snapshot folder)."""
    path = os.path.join(folder, MARKER)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            files = list(json.load(f)["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return [MARKER]  # a marker cut short: the download never got past its start
    missing = [f for f in files if not os.path.isfile(os.path.join(files_in or folder, f))]
    return missing or None


def _write_marker(folder: str, repo: str, files: Sequence[str]):
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, MARKER + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"repo": repo, "files": list(files),
                   "note": "noise search: an unfinished download; it resumes on the next use"}, f)
    os.replace(tmp, os.path.join(folder, MARKER))


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def download(repo: str, filename: Optional[str], target: Optional[str], looked: List[str],
             allow_patterns: Optional[Sequence[str]] = None) -> Optional[str]:
    """Download ``repo`` (one ``filename``, or a snapshot) into folder ``target`` (None: the HF
    cache). Returns the file or folder, or None after noting the failure in ``looked``."""
    import huggingface_hub as hh
    from .loading import hf_cache_dir
    endpoint = os.environ.get("HF_ENDPOINT") or None
    looked.append(f"download from {endpoint or 'https://huggingface.co'}: {repo}"
                  f"{' ' + filename if filename else ''} -> {target or hf_cache_dir()}")
    progress = _SETTINGS["progress"]
    try:
        files = [filename] if filename else pick_files(
            [s.rfilename for s in hh.HfApi(endpoint=endpoint).model_info(repo).siblings or []], allow_patterns)
        if not files:
            raise FileNotFoundError("the repo lists no weights or config files")
        where = {"local_dir": target} if target else {"cache_dir": hf_cache_dir()}
        # the marker of a snapshot: in its folder, or (HF cache) in the repo's cache folder
        marked = None if filename else (target or cache_repo_folder(repo))
        if marked:
            _write_marker(marked, repo, files)
        byte_bars = _takes_tqdm_class(hh.hf_hub_download)
        path = None
        for i, f in enumerate(files):
            log.info("noise search: downloading %s/%s (%d/%d) to %s", repo, f, i + 1, len(files), target or "the HF cache")
            desc = f"{repo}/{f}"
            if progress and byte_bars:
                path = hh.hf_hub_download(repo, f, endpoint=endpoint, tqdm_class=_bar_class(progress, desc), **where)
                continue
            if progress:  # an older huggingface_hub: the bar moves file by file
                progress(desc, 0, None)
            path = hh.hf_hub_download(repo, f, endpoint=endpoint, **where)
            if progress:
                size = os.path.getsize(path)
                progress(desc, size, size)
    except Exception as e:  # noqa: BLE001 - reported in the not-found message
        looked[-1] += f" [failed: {type(e).__name__}: {_first_line(e)}]"
        return None
    if filename:
        return path
    folder = target or os.path.dirname(path)
    if unfinished(marked, folder) is None:  # every listed file is there: a finished download
        os.remove(os.path.join(marked, MARKER))
    return folder


def cache_repo_folder(repo: str) -> str:
    """The HF cache's folder of ``repo`` (``models--org--name``), read from the environment now."""
    from .loading import hf_cache_dir
    return os.path.join(hf_cache_dir(), "models--" + repo.replace("/", "--"))
