"""Shared helpers for the benchmarks that drive a real ComfyUI server (overhead, batching, memory,
drawbench) and for those that only need torch (verifier_cost): machine description, server start,
API-format workflow builders, server-side timing, JSON/PNG output and the README section updater.

Run the benchmarks with the host's venv (``.host/venv/bin/python bench/<name>.py``); they need
``bash scripts/setup_host.sh`` to have been run once.
"""
from __future__ import annotations

import copy
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
OUT = Path(os.environ.get("NOISE_SEARCH_BENCH_OUT", REPO / "bench" / "out"))
README = REPO / "bench" / "README.md"
CKPT = "tiny_sd15.safetensors"


# -- machine --------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: Optional[str] = None) -> Dict[str, Any]:
    """CPU model, cores, torch version, the device the measurement ran on."""
    info: Dict[str, Any] = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(terse=True)}
    try:
        import torch
        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    try:
        cfile = REPO / ".host" / "ComfyUI" / "comfyui_version.py"
        m = re.search(r"['\"]([\d.]+)['\"]", cfile.read_text())
        info["comfyui"] = m.group(1) if m else None
    except OSError:
        info["comfyui"] = None
    if device is not None:
        info["device"] = device
    return info


def host_device(host) -> str:
    """The torch device the server computes on, from /system_stats (e.g. 'cpu' or 'cuda:0 NVIDIA H100')."""
    try:
        devs = host.get("/system_stats").get("devices", [])
        return ", ".join(f"{d.get('type')}:{d.get('index', 0)} {d.get('name', '')}".strip() for d in devs) or "?"
    except Exception:  # noqa: BLE001
        return "?"


# -- statistics -------------------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def iqr(xs: Sequence[float]) -> List[float]:
    if len(xs) < 2:
        return [float(xs[0]), float(xs[0])] if xs else [float("nan")] * 2
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return [float(q[0]), float(q[2])]


def finite(obj) -> bool:
    """True when every number in a nested JSON-like object is finite."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return True
    if isinstance(obj, (int, float)):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(finite(v) for v in obj)
    return True


# -- output -------------------------------------------------------------------------------------------
def out_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


def save_json(name: str, data: Dict[str, Any]) -> Path:
    p = out_dir() / f"{name}.json"
    p.write_text(json.dumps(data, indent=1, default=float))
    return p


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def table(rows: List[Sequence[Any]], header: Sequence[str]) -> str:
    """A Markdown table (also readable on a terminal)."""
    def fmt(v):
        if isinstance(v, float):
            if v == 0:
                return "0"
            if abs(v) >= 1e5 or abs(v) < 1e-3:
                return f"{v:.3g}"
            return f"{v:.4g}" if abs(v) < 100 else f"{v:,.1f}"
        return str(v)
    cells = [[fmt(v) for v in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    script = os.path.relpath(sys.argv[0], REPO) if sys.argv and sys.argv[0] else "?"
    return f".host/venv/bin/python {script}{' ' + args if args else ''}"


# -- server ---------------------------------------------------------------------------------------------
def cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


@contextmanager
def comfy_server(extra_args: Iterable[str] = (), url: Optional[str] = None, base: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None, checkpoint: Optional[Path] = None, gpu: bool = False):
    """A ComfyUI server with this pack: an existing one at ``url``, or a fresh ``main.py --cpu`` in
    a temporary base directory (tiny checkpoint linked in), stopped on exit. ``gpu``: start it
    without ``--cpu`` (CUDA machines)."""
    from scripts.host import ComfyHost, prepare_base_dir
    if url:
        yield RemoteHost(url)
        return
    tmp = None
    if base is None:
        tmp = tempfile.TemporaryDirectory(prefix="ns_bench_")
        base = Path(tmp.name)
    prepare_base_dir(Path(base), checkpoint)
    host = ComfyHost.start(Path(base), extra_args=list(extra_args), env=env, cpu=not gpu,
                           timeout=300 if gpu else 180)
    try:
        yield host
    finally:
        host.stop()
        if tmp is not None:
            tmp.cleanup()


class _NotOurs:
    pid = None

    def poll(self):
        return None


class RemoteHost:
    """The client half of scripts.host.ComfyHost, for a server somebody else started."""

    def __init__(self, url: str):
        import uuid
        from scripts.host import ComfyHost
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.proc = _NotOurs()  # ComfyHost.wait polls proc; a remote server is never "dead" to us
        self.remote = True
        self.base_dir = None
        for name in ("request", "get", "post", "queue", "wait", "run", "view", "interrupt"):
            setattr(self, name, getattr(ComfyHost, name).__get__(self))
        self.error_message = ComfyHost.error_message
        self.log = lambda: ""

    def stop(self):
        pass


def server_cpu_seconds(host) -> Optional[float]:
    """User + system CPU seconds used so far by the server process and its children (None for a
    server started elsewhere)."""
    proc = getattr(host, "proc", None)
    if proc is None or getattr(proc, "pid", None) is None:
        return None
    try:
        import psutil
        p = psutil.Process(proc.pid)
        t = p.cpu_times()
        total = t.user + t.system
        for c in p.children(recursive=True):
            try:
                ct = c.cpu_times()
                total += ct.user + ct.system
            except Exception:  # noqa: BLE001
                pass
        return float(total)
    except Exception:  # noqa: BLE001
        return None


def timed_run_cpu(host, wf: Dict[str, Any], timeout: float = 900):
    """(outputs, seconds, cpu_seconds). ``seconds``: from the server's execution_start to
    execution_success message (server-side wall time of this prompt, free of the client's polling
    interval). ``cpu_seconds``: CPU time the server process spent meanwhile (None when unknown) —
    on a CPU shared with other jobs it tracks the work done far more steadily than wall time."""
    c0 = server_cpu_seconds(host)
    t0 = time.perf_counter()
    entry = host.wait(host.queue(wf), timeout)
    wall = time.perf_counter() - t0
    c1 = server_cpu_seconds(host)
    ts = {k: d.get("timestamp") for k, d in entry.get("status", {}).get("messages", [])}
    if ts.get("execution_start") is not None and ts.get("execution_success") is not None:
        secs = (ts["execution_success"] - ts["execution_start"]) / 1000.0
    else:
        secs = wall
    cpu = None if c0 is None or c1 is None else c1 - c0
    return entry["outputs"], secs, cpu


def timed_run(host, wf: Dict[str, Any], timeout: float = 900):
    """(outputs, seconds): see :func:`timed_run_cpu`."""
    out, secs, _ = timed_run_cpu(host, wf, timeout)
    return out, secs


def free_cache(host):
    """Drop cached node outputs and unload models (POST /free)."""
    try:
        host.post("/free", {"unload_models": True, "free_memory": True})
    except Exception:  # noqa: BLE001
        pass


# -- workflows (API format) ---------------------------------------------------------------------------
def wf_base(width=256, height=256, prompt="a red apple on a table", ckpt=CKPT, negative="blurry"):
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
    }


def _sampling(seed, steps, cfg, sampler, scheduler):
    return {"model": ["ckpt", 0], "seed": int(seed), "steps": int(steps), "cfg": float(cfg), "sampler_name": sampler,
            "scheduler": scheduler, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
            "denoise": 1.0}


def wf_ksampler(base, seed, steps=10, cfg=3.0, sampler="euler", scheduler="normal", decode=False, prefix="ks"):
    """Stock KSampler → SaveLatent (``decode``: KSampler → VAEDecode → PreviewImage instead)."""
    wf = copy.deepcopy(base)
    wf["ks"] = {"class_type": "KSampler", "inputs": _sampling(seed, steps, cfg, sampler, scheduler)}
    if decode:
        wf["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["ks", 0], "vae": ["ckpt", 2]}}
        wf["preview"] = {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}}
    else:
        wf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["ks", 0], "filename_prefix": prefix}}
    return wf


def wf_ksampler_many(base, seed, n, steps=10, cfg=3.0, sampler="euler", scheduler="normal", prefix="ks"):
    """``n`` stock chains KSampler (seed + i, batch 1) → VAEDecode → PreviewImage in one prompt: the
    same ``n`` candidates a search draws, run one by one as stock ComfyUI runs them."""
    wf = copy.deepcopy(base)
    for i in range(n):
        wf[f"ks{i}"] = {"class_type": "KSampler", "inputs": _sampling(seed + i, steps, cfg, sampler, scheduler)}
        wf[f"decode{i}"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"ks{i}", 0], "vae": ["ckpt", 2]}}
        wf[f"preview{i}"] = {"class_type": "PreviewImage", "inputs": {"images": [f"decode{i}", 0]}}
    return wf


def wf_search(base, seed, verifier: Dict[str, Any], candidates=1, max_batch=1, steps=10, cfg=3.0, sampler="euler",
              scheduler="normal", strategy: Optional[Dict[str, Any]] = None, extra_nodes: Optional[Dict] = None,
              prefix="search", save_images=False):
    """NoiseSearchSampler (+ optional strategy node) → SaveLatent (the report comes back in its ui)."""
    wf = copy.deepcopy(base)
    wf["verifier"] = verifier
    wf.update(copy.deepcopy(extra_nodes or {}))
    wf["search"] = {"class_type": "NoiseSearchSampler", "inputs": {
        **_sampling(seed, steps, cfg, sampler, scheduler), "vae": ["ckpt", 2], "verifier": ["verifier", 0],
        "candidates": int(candidates), "max_batch": int(max_batch), "budget_nfe": 0, "rerender_winner": False}}
    if strategy is not None:
        wf["strategy"] = strategy
        wf["search"]["inputs"]["strategy"] = ["strategy", 0]
    wf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["search", 0], "filename_prefix": prefix}}
    if save_images:
        wf["save_images"] = {"class_type": "SaveImage", "inputs": {"images": ["search", 1], "filename_prefix": prefix}}
    return wf


def search_report(outputs, node="search") -> Dict[str, Any]:
    return outputs[node]["noise_search"][0]


def verifier_node(host, preferred: Sequence[str] = ("NoiseSearchSharpness", "NoiseSearchColorTarget")):
    """The first of ``preferred`` that the server has, as an API-format node (defaults filled in)."""
    info = host.get("/object_info")
    for cls in preferred:
        if cls in info:
            return {"class_type": cls, "inputs": default_inputs(info[cls])}
    raise RuntimeError(f"none of {list(preferred)} is registered on the server")


def default_inputs(node_info: Dict[str, Any]) -> Dict[str, Any]:
    """Widget defaults of a node from /object_info (links are left for the caller)."""
    out = {}
    for name, spec in node_info.get("input", {}).get("required", {}).items():
        kind = spec[0]
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        if isinstance(kind, list):
            out[name] = opts.get("default", kind[0] if kind else None)
        elif kind == "COMBO":  # V3 nodes list a combo's options in its spec
            choices = opts.get("options") or [None]
            out[name] = opts.get("default", choices[0])
        elif kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
            if "default" in opts:
                out[name] = opts["default"]
            else:
                out[name] = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[kind]
    return out


# -- README ---------------------------------------------------------------------------------------------
def update_readme_section(name: str, body: str):
    """Replace the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in bench/README.md
    (appended at the end when absent)."""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)
