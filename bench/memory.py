"""Peak memory of a search with the diffusion model and a learned verifier, offload on and off.

For each ComfyUI memory setting a fresh server starts (tiny SD1.5-layout checkpoint; a tiny
random-weight CLIP in ``models/verifiers`` for a NoiseSearchCLIPScore verifier, so the verifier goes
through ComfyUI's model management like the real one), runs one warm-up search (loads everything)
and one measured search, while a sampler thread records:

- on CPU: the resident set size (RSS) of the server process and its children, every 10 ms (psutil);
- on CUDA: ``/system_stats`` every 50 ms: ``torch_vram_total - torch_vram_free`` (bytes held by live
  tensors, i.e. torch's active allocation, as ComfyUI reports it) and ``vram_total - vram_free``
  (device-wide). The server-side equivalent of ``torch.cuda.max_memory_allocated`` needs code in
  the server process; a client can only sample, so the CUDA peak is a sampled lower bound.

Settings on a GPU (``--gpu``: the server starts without ``--cpu``): ``offload off`` = ``--highvram``
(models stay on the device), ``--normalvram`` (ComfyUI's default), ``offload on`` = ``--novram
--disable-smart-memory`` (weights stream from the CPU, models unload after use). ComfyUI refuses
the vram flags together with ``--cpu``, so on a CPU the switch is smart memory: default (models
stay loaded between prompts) against ``--disable-smart-memory`` (unloaded after each prompt). With
every device the CPU, ComfyUI's offload has little to move; the difference shows on a GPU.

    .host/venv/bin/python bench/memory.py [--n 4] [--size 128] [--steps 4] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402

#: on a GPU (server started without --cpu)
SETTINGS_GPU = {
    "offload off (--highvram)": ["--highvram"],
    "default (--normalvram)": ["--normalvram"],
    "offload on (--novram --disable-smart-memory)": ["--novram", "--disable-smart-memory"],
}
#: with --cpu ComfyUI refuses the vram flags; smart memory (models kept loaded) is the only switch
SETTINGS_CPU = {
    "offload off (default: smart memory)": [],
    "offload on (--disable-smart-memory)": ["--disable-smart-memory"],
}
MB = 1024 ** 2


class Sampler(threading.Thread):
    """Samples memory of the server until stopped; ``peak`` in bytes."""

    def __init__(self, host, cuda: bool, interval: float):
        super().__init__(daemon=True)
        self.host, self.cuda, self.interval = host, cuda, interval
        self.peak = 0
        self.peak_device = 0
        self.samples = 0
        self._halt = threading.Event()
        import psutil
        pid = getattr(getattr(host, "proc", None), "pid", None)
        self.proc = psutil.Process(pid) if pid is not None else None

    def read(self):
        if self.cuda:
            devs = self.host.get("/system_stats", timeout=5).get("devices", [])
            d = next((d for d in devs if d.get("type") == "cuda"), devs[0] if devs else {})
            active = int(d.get("torch_vram_total", 0)) - int(d.get("torch_vram_free", 0))
            return active, int(d.get("vram_total", 0)) - int(d.get("vram_free", 0))
        rss = self.proc.memory_info().rss
        for c in self.proc.children(recursive=True):
            try:
                rss += c.memory_info().rss
            except Exception:  # noqa: BLE001 - a child that just exited
                pass
        return rss, rss

    def run(self):
        while not self._halt.is_set():
            try:
                a, b = self.read()
                self.peak, self.peak_device = max(self.peak, a), max(self.peak_device, b)
                self.samples += 1
            except Exception:  # noqa: BLE001
                pass
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()
        self.join(5)
        return self.peak


def tiny_clip(models_dir: Path) -> Path:
    from tests.tiny_models import make_clip_dir
    d = models_dir / "verifiers" / "tiny_clip"
    if not (d / "config.json").exists():
        make_clip_dir(str(d))
    return d


def search_wf(clip_dir: Path, n: int, size: int, steps: int, seed: int):
    verifier = {"class_type": "NoiseSearchCLIPScore",
                "inputs": {"model": "tiny_clip", "prompt": "a red apple", "model_override": str(clip_dir),
                           "clamp_negative": False}}
    return H.wf_search(H.wf_base(size, size), seed, verifier, candidates=n, max_batch=n, steps=steps)


def measure_setting(flags, n, size, steps, gpu=False) -> dict:
    with tempfile.TemporaryDirectory(prefix="ns_mem_") as tmp:
        base = Path(tmp)
        clip_dir = tiny_clip(base / "models")
        with H.comfy_server(extra_args=flags, base=base, gpu=gpu) as host:
            dev = H.host_device(host)
            cuda = "cuda" in dev
            idle = Sampler(host, cuda, 0.01)
            a_idle = idle.read()[0]
            s = Sampler(host, cuda, 0.05 if cuda else 0.01)
            s.start()
            _, t_warm = H.timed_run(host, search_wf(clip_dir, n, size, steps, 1))
            warm_peak = s.stop()
            s2 = Sampler(host, cuda, 0.05 if cuda else 0.01)
            s2.start()
            out, t = H.timed_run(host, search_wf(clip_dir, n, size, steps, 2))
            peak = s2.stop()
            rep = H.search_report(out)
    return {"flags": flags, "device": dev, "measure": "cuda active bytes (sampled)" if cuda else "server RSS",
            "idle_mb": a_idle / MB, "first_search_peak_mb": warm_peak / MB, "peak_mb": peak / MB,
            "peak_device_mb": s2.peak_device / MB, "samples": s2.samples, "seconds": t, "first_seconds": t_warm,
            "nfe": rep["totals"]["nfe"], "verifier_calls": rep["totals"]["verifier_calls"],
            "verifier": rep["settings"]["verifier"].get("name")}


def plot(res, path):
    plt = H.plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(res["settings"])
    ax.barh(names, [res["settings"][k]["peak_mb"] for k in names], label="peak (search)")
    ax.barh(names, [res["settings"][k]["idle_mb"] for k in names], label="idle server", alpha=0.7)
    ax.set_xlabel("MiB")
    ax.legend(fontsize=8)
    ax.set_title(f"peak memory, model + tiny CLIPScore ({res['measure']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--gpu", action="store_true", default=None,
                    help="start the servers without --cpu (default: when CUDA is available)")
    ap.add_argument("--smoke", action="store_true", help="tiny budget: N=2, 64², 2 steps")
    a = ap.parse_args(argv)
    gpu = H.cuda_available() if a.gpu is None else a.gpu
    settings = dict(SETTINGS_GPU if gpu else SETTINGS_CPU)
    if a.smoke:
        a.n, a.size, a.steps = 2, 64, 2
    results = {name: measure_setting(flags, a.n, a.size, a.steps, gpu) for name, flags in settings.items()}
    first = next(iter(results.values()))
    res = {"settings": results, "n": a.n, "size": a.size, "steps": a.steps, "measure": first["measure"],
           "machine": H.machine(first["device"]), "command": H.command_line(), "smoke": a.smoke}
    name = "memory_smoke" if a.smoke else "memory"
    H.save_json(name, res)
    plot(res, H.out_dir() / f"{name}.png")
    rows = [[k, " ".join(v["flags"]) or "-", v["idle_mb"], v["first_search_peak_mb"], v["peak_mb"], v["seconds"]]
            for k, v in results.items()]
    txt = H.table(rows, ["setting", "flags", "idle MiB", "first search peak MiB", "search peak MiB", "search s"])
    res["table"] = txt
    H.save_json(name, res)
    print(txt)
    return res, txt


if __name__ == "__main__":
    main()
