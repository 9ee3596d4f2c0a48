"""Run a real ComfyUI server with this pack and talk to it: used by the tests, the demo and bench/.

    with ComfyHost.start(base_dir) as host:
        outputs = host.run(workflow)        # POST /prompt, wait, return the history outputs

The server is ``main.py --cpu`` from the host set up by ``scripts/setup_host.sh``, on a free
loopback port, with its own ``--base-directory`` (models, custom_nodes, input, output, user) and
``OMP_NUM_THREADS=1``. This repo is linked into that base directory's ``custom_nodes/``.

Which host (read once, at import):
  NOISE_SEARCH_CORE      ``current`` (default: ComfyUI v0.33.0, ``.host/ComfyUI``) or ``floor``
                         (ComfyUI 0.3.75, ``.host/floor/ComfyUI``)
  NOISE_SEARCH_FRONTEND  a comfyui-frontend-package version set up under ``.host/frontends/`` to
                         serve with ``--front-end-root`` (default: the one the core pins; the floor's
                         pin, 1.32.9, for the floor)
  NOISE_SEARCH_FRONTEND_ROOT  a folder to serve with ``--front-end-root`` instead (bench/gpu/run.py:
                         a one-page stub where no frontend package is installed)
  NOISE_SEARCH_GPU       ``1``: servers start without ``--cpu`` unless a caller says otherwise (the
                         host tests on a GPU machine, bench/gpu/run.py)
  NOISE_SEARCH_SERVER_ARGS  extra ComfyUI flags for every server started here (bench/gpu/run.py passes
                         on what its own server needed, e.g. ``--disable-dynamic-vram``)
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Optional

REPO = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("NOISE_SEARCH_HOST", REPO / ".host"))
CORE = os.environ.get("NOISE_SEARCH_CORE", "current").strip().lower() or "current"
if CORE not in ("current", "floor"):
    raise ValueError(f"NOISE_SEARCH_CORE={CORE!r}: use 'current' (ComfyUI v0.33.0) or 'floor' (0.3.75)")
COMFY = HOST / "ComfyUI" if CORE == "current" else HOST / "floor" / "ComfyUI"
#: the floor's core pins frontend 1.32.9; the venv holds the current core's pin (1.48.7)
FRONTEND = os.environ.get("NOISE_SEARCH_FRONTEND", "") or ("1.32.9" if CORE == "floor" else "")
VENV_PY = HOST / "venv" / "bin" / "python"
PACK_NAME = "comfyui-noise-search"
TINY_NAME = "tiny_sd15.safetensors"


class HostError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_checkpoint(dest_dir: Path) -> Path:
    """The tiny SD1.5-layout checkpoint in ``dest_dir`` (built once per builder version, then
    copied from the host's cache: about 7 s to build, 360 MB)."""
    builder = REPO / "tests" / "tiny_checkpoint.py"
    import hashlib
    tag = hashlib.sha256(builder.read_bytes()).hexdigest()[:12]
    cached = HOST / "cache" / f"tiny_sd15-{tag}.safetensors"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(VENV_PY), str(builder), str(cached), "--comfy", str(COMFY)], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=str(REPO))
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / TINY_NAME
    if not dest.exists():
        try:
            os.link(cached, dest)
        except OSError:
            shutil.copyfile(cached, dest)
    return dest


def prepare_base_dir(base: Path, checkpoint: Optional[Path] = None) -> Path:
    """A ComfyUI base directory with this pack linked in and a checkpoint in models/checkpoints."""
    for sub in ("custom_nodes", "models/checkpoints", "models/verifiers", "input", "output", "temp", "user"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_NAME
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    if checkpoint is None:
        tiny_checkpoint(base / "models" / "checkpoints")
    else:
        dest = base / "models" / "checkpoints" / Path(checkpoint).name
        if not dest.exists():
            dest.symlink_to(Path(checkpoint).resolve())
    return base


def frontend_args() -> list:
    """``--front-end-root`` for the frontend chosen by NOISE_SEARCH_FRONTEND_ROOT or
    NOISE_SEARCH_FRONTEND (none: the pinned one)."""
    root = os.environ.get("NOISE_SEARCH_FRONTEND_ROOT", "")
    if root:
        return ["--front-end-root", root]
    if not FRONTEND:
        return []
    static = HOST / "frontends" / FRONTEND / "comfyui_frontend_package" / "static"
    if not (static / "index.html").exists():
        raise HostError(f"NOISE_SEARCH_FRONTEND={FRONTEND}: no frontend at {static} "
                        "(scripts/setup_host.sh sets up 1.32.9 and 1.58.1)")
    return ["--front-end-root", str(static)]


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM when the process that started it dies (a killed Ray worker
    must not leave its ComfyUI server behind)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the caller stops the server itself
        pass
    os.setsid()


class ComfyHost:
    def __init__(self, base_dir: Optional[Path], port: int, proc: Optional[subprocess.Popen],
                 log_path: Optional[Path], url: Optional[str] = None):
        self.base_dir, self.port, self.proc, self.log_path = base_dir, port, proc, log_path
        self.url = url or f"http://127.0.0.1:{port}"
        self.client_id = uuid.uuid4().hex

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def start(cls, base_dir: Path, port: Optional[int] = None, extra_args=(), timeout: float = 180,
              env: Optional[Dict[str, str]] = None, cpu: Optional[bool] = None, comfy: Optional[Path] = None,
              python: Optional[Path] = None, state_dir: Optional[Path] = None,
              die_with_parent: bool = False) -> "ComfyHost":
        """Start the server. ``cpu=False`` leaves out ``--cpu`` and the one-thread setting, so ComfyUI
        uses the GPU (and accepts its --highvram / --novram flags); ``None``: ``--cpu`` unless
        NOISE_SEARCH_GPU=1.

        ``comfy`` / ``python``: a ComfyUI folder and the Python that runs it (default: the test
        host's). ``base_dir`` None: the ComfyUI folder's own models and custom nodes (a user's
        install). ``state_dir``: this server's own output, temp and user folders, database and log,
        so several servers can share one base directory or install. ``die_with_parent``: the
        server ends when the process that started it dies (Linux)."""
        if cpu is None:
            cpu = os.environ.get("NOISE_SEARCH_GPU", "") != "1"
        comfy = Path(comfy) if comfy else COMFY
        python = Path(python) if python else VENV_PY
        if not (comfy / "main.py").exists():
            raise HostError(f"no ComfyUI at {comfy}: run `bash scripts/setup_host.sh` first, or give the folder "
                            "that holds ComfyUI's main.py")
        base_dir = Path(base_dir) if base_dir is not None else None
        state = Path(state_dir) if state_dir is not None else base_dir
        if state is None:
            raise HostError("ComfyHost.start: give a base_dir, a state_dir, or both")
        port = port or free_port()
        log_path = state / "comfyui.log"
        e = {**os.environ, **({"OMP_NUM_THREADS": "1"} if cpu else {}), "PYTHONUNBUFFERED": "1",
             "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1", **(env or {})}
        dirs = [] if base_dir is None else ["--base-directory", str(base_dir)]
        if state_dir is not None:
            for sub in ("output", "temp", "user"):
                (state / sub).mkdir(parents=True, exist_ok=True)
            dirs += ["--output-directory", str(state / "output"), "--temp-directory", str(state),
                     "--user-directory", str((state / "user").resolve())]
        cmd = [str(python), str(comfy / "main.py"), *(["--cpu"] if cpu else []), "--listen", "127.0.0.1",
               "--port", str(port), *dirs, "--disable-auto-launch",
               # the database beside the rest of this server's state (its default is inside the core)
               "--database-url", f"sqlite:///{(state / 'user' / 'comfyui.db').resolve()}",
               *frontend_args(), *os.environ.get("NOISE_SEARCH_SERVER_ARGS", "").split(), *extra_args]
        log = open(log_path, "w")
        if die_with_parent:
            proc = subprocess.Popen(cmd, cwd=str(comfy), stdout=log, stderr=subprocess.STDOUT, env=e,
                                    preexec_fn=_die_with_parent)
        else:
            proc = subprocess.Popen(cmd, cwd=str(comfy), stdout=log, stderr=subprocess.STDOUT, env=e,
                                    start_new_session=True)
        host = cls(state, port, proc, log_path)
        try:
            host._wait_ready(timeout)
            host.check_pack_loaded()
        except BaseException:
            host.stop()
            raise
        return host

    @classmethod
    def attach(cls, url: str, timeout: float = 30) -> "ComfyHost":
        """A server someone else started (``http://host:port``): nothing to stop; the pack must be loaded."""
        url = url.rstrip("/")
        host = cls(None, urllib.parse.urlparse(url).port or 80, None, None, url=url)
        host._wait_ready(timeout)
        host.check_pack_loaded()
        return host

    def alive(self) -> bool:
        """Whether the server still answers (and, when started here, its process still runs)."""
        if self.proc is not None and self.proc.poll() is not None:
            return False
        try:
            self.get("/system_stats", timeout=5)
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def _wait_ready(self, timeout: float):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise HostError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                self.get("/system_stats", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise HostError(f"ComfyUI not ready after {timeout:.0f} s:\n{self.log()[-4000:]}")

    def check_pack_loaded(self):
        """Fail when ComfyUI logged an import failure of this pack, or registered none of its nodes."""
        log = self.log()
        for line in log.splitlines():
            if PACK_NAME in line and ("(IMPORT FAILED)" in line or line.lstrip().startswith("Cannot import")
                                      or "Cannot import" in line):
                raise HostError(f"ComfyUI could not import {PACK_NAME}: {line.strip()}\n{log[-6000:]}")
        info = self.get("/object_info")
        if not any(k.startswith("NoiseSearch") for k in info):
            raise HostError(f"no NoiseSearch nodes in /object_info; log:\n{log[-6000:]}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            import signal
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def log(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- HTTP --------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw

    def get(self, path: str, timeout: float = 30) -> Any:
        return self.request("GET", path, timeout=timeout)

    def post(self, path: str, body: Any = None, timeout: float = 30) -> Any:
        return self.request("POST", path, body if body is not None else {}, timeout=timeout)

    def queue(self, workflow: Dict[str, Any]) -> str:
        try:
            r = self.post("/prompt", {"prompt": workflow, "client_id": self.client_id})
        except urllib.error.HTTPError as e:
            raise HostError(f"POST /prompt rejected ({e.code}): {e.read().decode(errors='replace')}") from None
        return r["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600, poll: float = 0.25) -> Dict[str, Any]:
        """The history entry of a finished prompt; raises HostError with the server's error
        message if the prompt failed. ``poll``: seconds between looks at /history."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            h = self.get(f"/history/{prompt_id}")
            if h and prompt_id in h:
                entry = h[prompt_id]
                st = entry.get("status", {})
                if st.get("completed") or st.get("status_str") in ("success", "error"):
                    if st.get("status_str") == "error":
                        raise HostError(f"prompt {prompt_id} failed: {self.error_message(entry)}")
                    return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise HostError(f"ComfyUI died while running the prompt:\n{self.log()[-4000:]}")
            time.sleep(poll)
        raise HostError(f"prompt {prompt_id} not finished after {timeout:.0f} s")

    @staticmethod
    def error_message(entry: Dict[str, Any]) -> str:
        for kind, data in entry.get("status", {}).get("messages", []):
            if kind in ("execution_error", "execution_interrupted"):
                return f"{kind}: {data.get('exception_type', '')}: {data.get('exception_message', '')}".strip()
        return json.dumps(entry.get("status", {}))[:2000]

    def run(self, workflow: Dict[str, Any], timeout: float = 600) -> Dict[str, Any]:
        """Queue ``workflow`` (API format), wait, return its outputs by node id."""
        return self.wait(self.queue(workflow), timeout)["outputs"]

    def view(self, image: Dict[str, str]) -> bytes:
        q = urllib.parse.urlencode({"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                                    "type": image.get("type", "output")})
        with urllib.request.urlopen(f"{self.url}/view?{q}", timeout=30) as r:
            return r.read()

    def interrupt(self):
        self.post("/interrupt", {})
