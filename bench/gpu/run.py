"""Everything only a GPU can show, in one command that fits one ten-minute call of the device tool
(bench/gpu/README.md says how to call it and what each figure means).

    python3 bench/gpu/run.py                # on the GPU machine: bundle in .gpu-bundle/, results in $OUT
    .host/venv/bin/python bench/gpu/run.py --dry-run   # here: CPU, tiny sizes, the test host's venv

Steps, each budgeted (a step whose estimate does not fit in what is left of ``--budget`` is skipped
and says so; a step that fails records its error and the run goes on):

1. ``install``: the bundle's wheels into a target folder (``pip --no-index --no-deps --target``);
2. ``unpack``: the ComfyUI v0.33.0 tarball into a host folder laid out as scripts/host.py expects;
3. ``checkpoints:<model>``: full-size random-weight SD1.5 (and SDXL) checkpoints built with the host's
   own classes (bench/gpu/checkpoints.py), and a CLIP ViT-L/14-sized random verifier model;
4. ``server``: a ComfyUI server on the GPU with this pack and a memory probe (bench/gpu/probe);
5. per model: ``overhead`` (search N=1 vs KSampler + VAEDecode, bench/overhead.py), ``batching``
   (N candidates batched vs the same N as stock KSampler → VAEDecode chains in one prompt, equal NFE,
   N = 2, 4, 8, 16), ``bits`` (max_batch=N vs max_batch=1 scores, bench/batching.py), ``memory``
   (peak VRAM of a search with model + CLIP verifier vs each alone), ``verifier`` (verifier ms per
   image vs one NFE), ``parity`` (rerender_winner vs a stock KSampler with the winning seed, bit for
   bit: euler, euler_ancestral, dpmpp_2m_sde_gpu);
6. ``tests``: the host tests that matter, on a CUDA server (pytest, NOISE_SEARCH_GPU=1).

Order, by what matters most: SD1.5 and the verifier model, the server, SD1.5's benches, the host tests,
then SDXL (built while the server idles, then benched) as far as the budget goes. A watchdog at
budget + 15 s stops an overrunning step and writes what was measured.

Writes ``results.json`` (every figure, every step's status and time), ``summary.md``, ``comfyui.log``
and ``pytest.log`` to ``--out`` (default: $OUT, else bench/out/gpu or bench/out/gpu_dry_run).

``--dry-run``: on this machine's CPU, with the test host (NOISE_SEARCH_HOST, its venv instead of the
bundle; the bundle's install is exercised into a temporary folder when a bundle is there), the tiny
UNet (one SD1.5 level) in the same builder, 64² images, N ≤ 2, one round; SDXL's layout is checked on
the meta device, and the packages the bundle leaves out are blocked in the server, as on the device.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import host_common as H  # noqa: E402  (imports nothing of the host)

#: ComfyUI v0.33.0's and this pack's requirements that the device image already holds
#: (/work/.library/device/KINDS.md's package list): nothing to carry
ON_DEVICE = {"torch", "torchvision", "torchaudio", "numpy", "einops", "transformers", "tokenizers", "sentencepiece",
             "safetensors", "aiohttp", "yarl", "pyyaml", "pillow", "scipy", "tqdm", "psutil", "filelock", "requests",
             "huggingface-hub"}
#: ComfyUI v0.33.0's requirements the bundle leaves out (bench/gpu/README.md says why)
LEFT_OUT_PACKAGES = {"comfyui-frontend-package", "comfyui-workflow-templates", "comfyui-embedded-docs", "spandrel",
                     "pyopengl", "comfy-angle"}
#: the modules of the packages the bundle leaves out (bench/gpu/bundle-requirements.txt)
LEFT_OUT = ["comfyui_frontend_package", "comfyui_workflow_templates", "comfyui_embedded_docs", "spandrel", "OpenGL",
            "comfy_angle"]
#: what the server must import from the bundle (checked after the install)
BUNDLE_IMPORTS = ["torchsde", "av", "sqlalchemy", "alembic", "comfy_kitchen", "comfy_aimdo", "blake3", "simpleeval",
                  "pydantic", "pydantic_settings", "kornia"]
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m_sde_gpu"]
PROMPT = "a red apple on a wooden table, photo"

#: per model: image side, steps and sizes of each bench; estimates in seconds (GPU: H200 guesses
#: with margin; dry run: this 2-core CPU)
PLANS = {
    "sd15": dict(ckpt="ns_random_sd15.safetensors", size=512, steps=20, overhead_repeats=8, sweep=[2, 4, 8, 16],
                 sweep_steps=10, sweep_repeats=2, bits_n=8, mem_n=8, ver_batch=8, ver_repeats=5, nfe_steps=(5, 15),
                 nfe_repeats=3, parity_n=4, parity_steps=10,
                 est=dict(build=60, overhead=45, batching=75, bits=25, memory=45, verifier=20, parity=25)),
    "sdxl": dict(ckpt="ns_random_sdxl.safetensors", size=1024, steps=20, overhead_repeats=4, sweep=[2, 4, 8, 16],
                 sweep_steps=8, sweep_repeats=1, bits_n=4, mem_n=4, ver_batch=4, ver_repeats=3, nfe_steps=(4, 12),
                 nfe_repeats=2, parity_n=2, parity_steps=8,
                 est=dict(build=120, overhead=60, batching=110, bits=30, memory=60, verifier=25, parity=40)),
    "tiny": dict(ckpt="ns_random_tiny.safetensors", size=64, steps=2, overhead_repeats=1, sweep=[2], sweep_steps=2,
                 sweep_repeats=1, bits_n=2, mem_n=2, ver_batch=2, ver_repeats=1, nfe_steps=(1, 3), nfe_repeats=1,
                 parity_n=2, parity_steps=2,
                 est=dict(build=60, overhead=15, batching=15, bits=10, memory=20, verifier=10, parity=25)),
}
EST = dict(install=40, unpack=15, clip=40, server=90, tests=90)
EST_DRY = dict(install=30, unpack=1, clip=15, server=40, tests=60)
#: host tests that show what only a GPU can: sampler parity with a stock KSampler, loading,
#: every algorithm through the server, batch independence
GPU_TESTS = ["tests/host/test_samplers.py", "tests/host/test_search_host.py"]
#: the dry run checks the mechanics (interpreter, paths, the count of results) on quick unit tests
DRY_TESTS = ["tests/unit/test_step_noise.py"]


# -- bookkeeping ------------------------------------------------------------------------------------
class Run:
    def __init__(self, budget: float, out: Path, dry: bool):
        self.t0 = time.monotonic()
        self.budget, self.out, self.dry = budget, out, dry
        self.steps: List[Dict[str, Any]] = []
        self.figures: Dict[str, Any] = {}
        self.failed: set = set()
        self.current = None  # (name, start) of the step in progress

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.t0)

    def step(self, name: str, estimate: float, fn: Callable[[], Any], needs=(), reserve: float = 0.0):
        """Run ``fn`` if its needs succeeded and ``estimate`` (+ ``reserve`` kept for later steps)
        fits in what is left; record status, seconds and the error."""
        rec = {"name": name, "estimate_s": estimate}
        missing = [n for n in needs if n in self.failed]
        left = self.left()
        if missing:
            rec["status"] = f"skipped (needs {', '.join(missing)})"
        elif left < estimate + reserve:
            rec["status"] = (f"skipped (budget: needs ~{estimate:.0f} s"
                             f"{f' + {reserve:.0f} s kept for later steps' if reserve else ''}, {max(left, 0):.0f} s left)")
        else:
            t = time.monotonic()
            self.current = (name, t)
            print(f"[gpu-run] {name} (~{estimate:.0f} s, {left:.0f} s left)", flush=True)
            try:
                note = fn()
                rec["status"] = "ok"
                if note:
                    rec["note"] = str(note)
            except Exception as e:  # noqa: BLE001 - recorded, the run goes on
                rec["status"] = f"failed: {type(e).__name__}: {str(e)[:600]}"
                rec["traceback"] = traceback.format_exc()[-3000:]
            rec["seconds"] = round(time.monotonic() - t, 2)
            self.current = None
        if rec["status"] != "ok":
            self.failed.add(name)
        print(f"[gpu-run]   {name}: {rec['status']}" + (f" in {rec['seconds']} s" if "seconds" in rec else ""),
              flush=True)
        self.steps.append(rec)
        return rec["status"] == "ok"


def fig(run: Run, model: str, key: str, value):
    run.figures.setdefault(model, {})[key] = value


# -- environment ------------------------------------------------------------------------------------
def install_bundle(bundle: Path, target: Path) -> str:
    wheels = sorted(glob.glob(str(bundle / "*.whl")))
    if not wheels:
        raise FileNotFoundError(f"no wheels in {bundle}: run `bash bench/gpu/bundle.sh` here first")
    shutil.rmtree(target, ignore_errors=True)
    # the tags the wheels were downloaded for: the same command installs them from any interpreter
    # (the dry run's venv may not be 3.12)
    tags = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:"]
    for plat in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
                 "manylinux2014_x86_64", "manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"):
        tags += ["--platform", plat]
    check([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--disable-pip-version-check", *tags, "--target", str(target), *wheels], timeout=300)
    return f"{len(wheels)} wheels into {target}"


def check(cmd, timeout, **kw):
    """subprocess.run that raises with the end of the command's output."""
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if cp.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} {' '.join(map(str, cmd[1:3]))} … exited {cp.returncode}:\n"
                           f"{(cp.stdout + cp.stderr)[-2500:]}")
    return cp


def check_imports(site: Path) -> str:
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)}
    check([sys.executable, "-c", code, *BUNDLE_IMPORTS], env=env, timeout=120)
    return "imports: " + ", ".join(BUNDLE_IMPORTS)


def unpack_host(tarball: Path, host: Path, site: Path) -> str:
    """The ComfyUI source at ``host/ComfyUI`` and ``host/venv/bin/python``: this interpreter with the
    bundle first on its path (the layout scripts/host.py reads)."""
    if not tarball.exists():
        raise FileNotFoundError(f"no {tarball}: run `bash bench/gpu/bundle.sh` here first")
    tmp = host / "unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tarball) as tf:
        tf.extractall(tmp, filter="data")
    tops = [p for p in tmp.iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "main.py").exists():
        raise RuntimeError(f"{tarball} does not hold one ComfyUI folder: {[p.name for p in tops]}")
    shutil.rmtree(host / "ComfyUI", ignore_errors=True)
    tops[0].rename(host / "ComfyUI")
    tmp.rmdir()
    write_python_wrapper(host, site)
    ver = (host / "ComfyUI" / "comfyui_version.py").read_text()
    return "ComfyUI " + ver.strip().splitlines()[-1].split("=")[-1].strip().strip("'\"")


def write_python_wrapper(host: Path, *paths: Path):
    py = host / "venv" / "bin" / "python"
    py.parent.mkdir(parents=True, exist_ok=True)
    pp = os.pathsep.join(str(p) for p in paths)
    py.write_text(f'#!/bin/sh\nexport PYTHONPATH="{pp}${{PYTHONPATH:+:$PYTHONPATH}}"\nexec "{sys.executable}" "$@"\n')
    py.chmod(0o755)


def write_block_shim(folder: Path) -> Path:
    """A sitecustomize that makes the bundle's left-out packages unimportable (dry run: the test host
    has them; the device does not)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import os, sys\n"
        "_BLOCK = set(filter(None, os.environ.get('NOISE_SEARCH_GPU_BLOCK', '').split(',')))\n"
        "class _LeftOut:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in _BLOCK:\n"
        "            raise ModuleNotFoundError(f'{name}: left out of the GPU bundle', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _LeftOut())\n")
    return folder


def frontend_stub(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text("<!doctype html><title>noise search GPU bench</title>"
                                       "<p>API only: no frontend in the GPU bundle.</p>\n")
    return folder


def build(family: str, out: Path, comfy: Path, device: str, dtype: str, info_json: Path, timeout: float,
          extra=()) -> dict:
    cmd = [str(os.environ["NS_GPU_PY"]), str(REPO / "bench" / "gpu" / "checkpoints.py"), family, str(out),
           "--comfy", str(comfy), "--device", device, "--dtype", dtype, "--json", str(info_json), *extra]
    if family == "clip" and device == "cpu":
        cmd.append("--tiny")
    cp = check(cmd, timeout=timeout, cwd=str(REPO))
    print(cp.stdout.strip()[-2000:], flush=True)
    return json.loads(info_json.read_text())


# -- measurements -------------------------------------------------------------------------------------
def clip_verifier(host, clip_dir: Path) -> Dict[str, Any]:
    info = host.get("/object_info")["NoiseSearchCLIPScore"]
    inputs = H.default_inputs(info)
    inputs.update(prompt=PROMPT, model_override=str(clip_dir), clamp_negative=False)
    return {"class_type": "NoiseSearchCLIPScore", "inputs": inputs}


def wf_score(verifier, size: int, batch: int, color: int):
    return {"img": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": batch,
                                                           "color": int(color)}},
            "verifier": verifier,
            "score": {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["img", 0],
                                                                         "verifier": ["verifier", 0]}},
            "preview": {"class_type": "PreviewImage", "inputs": {"images": ["score", 1]}}}


class Seeds:
    def __init__(self, start: int):
        self.n = start

    def __call__(self, k: int = 1) -> int:
        s = self.n
        self.n += k + 17
        return s


def measure_sweep(host, p, ckpt, seeds: Seeds, run: Run, reserve: float) -> dict:
    """N candidates batched (search, max_batch = N) vs the same N seeds as stock KSampler → VAEDecode
    chains in one prompt; equal NFE (N × steps); interleaved, median of per-round ratios."""
    base = H.wf_base(p["size"], p["size"], prompt=PROMPT, ckpt=ckpt)
    ver = H.verifier_node(host)
    steps = p["sweep_steps"]
    rows = []
    for n in p["sweep"]:
        if rows and run.left() < reserve + 2.5 * rows[-1]["round_s"] * (n / rows[-1]["n"]) * p["sweep_repeats"]:
            rows.append({"n": n, "skipped": "budget"})
            break

        def stock(s, n=n):
            return H.wf_ksampler_many(base, s, n, steps)

        def batched(s, n=n):
            return H.wf_search(base, s, ver, candidates=n, max_batch=n, steps=steps, prefix=f"sw{n}")

        t_round = time.monotonic()
        H.timed_run(host, stock(seeds(n)))  # warm-up at this batch size
        H.timed_run(host, batched(seeds(n)))
        ts, tb, nfe = [], [], None
        for r in range(p["sweep_repeats"]):
            order = ["b", "s"] if r % 2 == 0 else ["s", "b"]
            for k in order:
                if k == "s":
                    ts.append(H.timed_run(host, stock(seeds(n)))[1])
                else:
                    out, secs = H.timed_run(host, batched(seeds(n)))
                    tb.append(secs)
                    nfe = H.search_report(out)["totals"]["nfe"]
        ratios = [s / b for s, b in zip(ts, tb)]
        rows.append({"n": n, "steps": steps, "stock_s": ts, "batched_s": tb, "speedup": H.median(ratios),
                     "search_nfe": nfe, "stock_nfe": n * steps, "equal_nfe": nfe == n * steps,
                     "round_s": (time.monotonic() - t_round) / (p["sweep_repeats"] + 1)})
    return {"size": p["size"], "steps": steps, "verifier": ver["class_type"], "rows": rows}


def peak(host, wf) -> dict:
    """Peak memory of one prompt from a clean state: models unloaded, caches emptied, peaks reset."""
    H.free_cache(host)
    time.sleep(2.0)  # the prompt worker handles /free between prompts
    host.post("/noise_search_bench/peak/reset", {})
    H.timed_run(host, wf)
    return host.get("/noise_search_bench/peak")


def measure_memory(host, p, ckpt, clip_wf_verifier, seeds: Seeds) -> dict:
    n, size = p["mem_n"], p["size"]
    base = H.wf_base(size, size, prompt=PROMPT, ckpt=ckpt)
    model_wf = H.wf_ksampler(base, seeds(), p["sweep_steps"], decode=True)
    model_wf["latent"]["inputs"]["batch_size"] = n
    score_wf = wf_score(clip_wf_verifier, size, n, seeds() % 0xFFFFFF)
    search_wf = H.wf_search(base, seeds(n), clip_wf_verifier, candidates=n, max_batch=n, steps=p["sweep_steps"],
                            prefix="mem")
    res = {"model_alone": peak(host, model_wf), "verifier_alone": peak(host, score_wf),
           "search": peak(host, search_wf)}
    key = "rss_peak"
    if res["search"].get("cuda"):
        key = "allocated_peak" if all(res[k].get("allocated_peak") for k in res) else "device_used_peak"
    larger = max(res["model_alone"][key], res["verifier_alone"][key])
    out = {"n": n, "size": size, "measure": key, "peaks": res, "ratio": res["search"][key] / larger}
    if res["search"].get("cuda"):
        dl = max(res["model_alone"]["device_used_peak"], res["verifier_alone"]["device_used_peak"])
        out["ratio_device_used"] = res["search"]["device_used_peak"] / dl
    return out


def measure_verifier(host, p, ckpt, clip_wf_verifier, seeds: Seeds) -> dict:
    """Verifier ms per image (ScoreImages on a batch) and ms per NFE (difference of two KSampler step
    counts at batch 1, so the fixed costs of a prompt cancel)."""
    size, b = p["size"], p["ver_batch"]
    H.timed_run(host, wf_score(clip_wf_verifier, size, b, 1))  # warm-up: loads the verifier
    t_ver = [H.timed_run(host, wf_score(clip_wf_verifier, size, b, seeds() % 0xFFFFFF))[1]
             for _ in range(p["ver_repeats"])]
    base = H.wf_base(size, size, prompt=PROMPT, ckpt=ckpt)
    lo, hi = p["nfe_steps"]
    H.timed_run(host, H.wf_ksampler(base, seeds(), lo))
    t_lo, t_hi = [], []
    for _ in range(p["nfe_repeats"]):
        t_lo.append(H.timed_run(host, H.wf_ksampler(base, seeds(), lo))[1])
        t_hi.append(H.timed_run(host, H.wf_ksampler(base, seeds(), hi))[1])
    nfe_ms = max((H.median(t_hi) - H.median(t_lo)) / (hi - lo), 1e-6) * 1000
    ver_ms = H.median(t_ver) / b * 1000
    return {"size": size, "batch": b, "verifier_ms_per_image": ver_ms, "nfe_ms": nfe_ms,
            "verifier_nfe": ver_ms / nfe_ms, "verifier_prompt_s": t_ver, "ksampler_s": {str(lo): t_lo, str(hi): t_hi}}


def measure_parity(host, p, ckpt, seeds: Seeds) -> dict:
    """Per sampler: a search (N candidates, max_batch N) with and without rerender_winner, and a stock
    KSampler with the winning seed; latents compared bit for bit."""
    import torch
    from tests.host.helpers import saved_latent
    base = H.wf_base(p["size"], p["size"], prompt=PROMPT, ckpt=ckpt)
    ver = H.verifier_node(host)
    n, steps = p["parity_n"], p["parity_steps"]
    out = {}
    for sampler in SAMPLERS:
        seed = seeds(n)
        row = {}
        for rerender in (True, False):
            wf = H.wf_search(base, seed, ver, candidates=n, max_batch=n, steps=steps, sampler=sampler,
                             prefix=f"par_{sampler}_{int(rerender)}")
            wf["search"]["inputs"]["rerender_winner"] = rerender
            res = host.run(wf)
            best = H.search_report(res)["best"]["seed"]
            lat = saved_latent(host, res)
            ks = host.run(H.wf_ksampler(base, best, steps, sampler=sampler, prefix=f"park_{sampler}_{int(rerender)}"))
            ref = saved_latent(host, ks)
            tag = "rerender" if rerender else "batched"
            row[f"{tag}_identical"] = bool(torch.equal(lat, ref))
            row[f"{tag}_max_abs_diff"] = float((lat.float() - ref.float()).abs().max())
            row[f"{tag}_finite"] = bool(torch.isfinite(lat).all())
            row["best_seed"] = best
        out[sampler] = row
    return {"n": n, "steps": steps, "size": p["size"], "samplers": out}


def run_tests(py: str, args: List[str], env: Dict[str, str], log: Path, timeout: float) -> str:
    cmd = [py, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra --import-mode=importlib"]
    try:
        cp = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout)
        text, rc = cp.stdout + cp.stderr, cp.returncode
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        text += f"\n[gpu-run] pytest stopped after {timeout:.0f} s (budget)\n"
        rc = -1
    log.write_text(text)
    counts = {}
    for line in text.splitlines()[::-1]:
        if (" passed" in line or " failed" in line or " error" in line) and " in " in line:
            for part in line.strip("= ").split(" in ")[0].split(","):
                bits = part.strip().split(" ")
                if len(bits) >= 2 and bits[0].isdigit():
                    counts[bits[1].rstrip("s")] = int(bits[0])
            break
    return {"rc": rc, "counts": counts, "command": " ".join(cmd[1:])}


# -- summary -------------------------------------------------------------------------------------------
def headline(figures: Dict[str, Any]) -> Dict[str, Any]:
    """The few numbers the issue asks for, per model (all finite when their step ran)."""
    out: Dict[str, Any] = {}
    for model, f in figures.items():
        if not isinstance(f, dict):
            continue
        h = {}
        if "overhead" in f:
            h["overhead_vs_ksampler_decode"] = f["overhead"]["ratio"]["search_vs_ksampler_decode"]
        if "batching" in f:
            for r in f["batching"]["rows"]:
                if "speedup" in r:
                    h[f"batched_speedup_n{r['n']}"] = r["speedup"]
        if "bits" in f:
            h["batched_vs_one_by_one_max_score_diff"] = f["bits"]["max_score_diff"]
            h["batched_vs_one_by_one_same_scores"] = f["bits"]["same_scores"]
        if "memory" in f:
            h["peak_search_vs_larger_alone"] = f["memory"]["ratio"]
        if "verifier" in f:
            h["verifier_ms_per_image"] = f["verifier"]["verifier_ms_per_image"]
            h["nfe_ms"] = f["verifier"]["nfe_ms"]
            h["verifier_per_image_in_nfe"] = f["verifier"]["verifier_nfe"]
        if "parity" in f:
            for s, r in f["parity"]["samplers"].items():
                h[f"rerender_identical_{s}"] = r["rerender_identical"]
                h[f"batched_winner_max_abs_diff_{s}"] = r["batched_max_abs_diff"]
        if h:
            out[model] = h
    return out


def summary_md(res: Dict[str, Any]) -> str:
    m = res["machine"]
    lines = [f"# GPU run ({res['mode']})", "",
             f"{m.get('gpu') or 'no GPU'}; torch {m.get('torch')}; Python {m.get('python')}; "
             f"{res['wall_s']:.0f} s of a {res['budget_s']:.0f} s budget; {res['finished_utc']}", "",
             "| step | status | s |", "|---|---|---|"]
    for s in res["steps"]:
        lines.append(f"| {s['name']} | {s['status'].splitlines()[0][:160]} | {s.get('seconds', '-')} |")
    lines += ["", "| model | figure | value | goal |", "|---|---|---|---|"]
    goals = {"overhead_vs_ksampler_decode": "≤ 1.01", "batched_speedup_n8": "≥ 2", "peak_search_vs_larger_alone": "≈ 1",
             "rerender_identical_euler": "true", "rerender_identical_euler_ancestral": "true",
             "rerender_identical_dpmpp_2m_sde_gpu": "true"}
    for model, h in res["headline"].items():
        for k, v in h.items():
            val = f"{v:.4g}" if isinstance(v, float) else str(v)
            lines.append(f"| {model} | {k} | {val} | {goals.get(k, '')} |")
    if res.get("tests"):
        t = res["tests"]
        lines += ["", f"Host tests on the server's device: {t['counts']} (rc {t['rc']}; pytest.log)."]
    return "\n".join(lines) + "\n"


def finish(run: Run, state: Dict[str, Any], a, argv, models: List[str], work: Path, overrun: bool = False):
    """Write results.json and summary.md (also when the watchdog stops an overrunning step)."""
    import datetime as _dt
    if overrun and run.current:
        name, t = run.current
        run.steps.append({"name": name, "status": "stopped (budget: the step overran and the run was ended)",
                          "seconds": round(time.monotonic() - t, 2)})
    res = {"mode": "dry-run" if run.dry else "gpu", "machine": H.machine(state.get("device")),
           "budget_s": run.budget, "wall_s": time.monotonic() - run.t0,
           "finished_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": " ".join(["bench/gpu/run.py", *(argv if argv is not None else sys.argv[1:])]),
           "server_args": state.get("server_args"), "models": models, "left_out": LEFT_OUT, "steps": run.steps,
           "headline": headline(run.figures), "figures": run.figures, "tests": run.figures.get("tests"),
           "platform": platform.platform()}
    (run.out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    (run.out / "summary.md").write_text(summary_md(res))
    print(summary_md(res), flush=True)
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)


def watchdog(run: Run, state: Dict[str, Any], a, argv, models, work, grace: float = 15.0):
    """At budget + ``grace`` seconds: stop the server, write what was measured, exit (so that the results
    come back from a device call whose limit is near)."""
    import threading

    def fire():
        print("[gpu-run] budget overrun: writing what was measured and stopping", flush=True)
        try:
            if state.get("host") is not None:
                (run.out / "comfyui.log").write_text(state["host"].log()[-4_000_000:])
                state["host"].stop()
            finish(run, state, a, argv, models, work, overrun=True)
        finally:
            os._exit(3)
    t = threading.Timer(max(run.left(), 0) + grace, fire)
    t.daemon = True
    t.start()
    return t


# -- main ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, the test host's venv (here)")
    ap.add_argument("--out", default=None, help="results folder (default: $OUT, else bench/out/gpu[_dry_run])")
    ap.add_argument("--bundle", default=str(REPO / ".gpu-bundle"))
    ap.add_argument("--work", default=None, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for everything (default 540; dry run 420)")
    ap.add_argument("--models", nargs="+", default=None, help="default: sd15 sdxl (dry run: tiny)")
    ap.add_argument("--no-tests", action="store_true", help="leave out the host tests")
    ap.add_argument("--server-args", default="", help="extra ComfyUI flags for the benchmark server, e.g. "
                    "'--disable-dynamic-vram' (one retry with it is automatic when the server does not start on a GPU)")
    a = ap.parse_args(argv)
    dry = a.dry_run
    out = Path(a.out or os.environ.get("OUT") or REPO / "bench" / "out" / ("gpu_dry_run" if dry else "gpu"))
    out.mkdir(parents=True, exist_ok=True)
    run = Run(a.budget or (420.0 if dry else 540.0), out, dry)
    work = Path(a.work or tempfile.mkdtemp(prefix="ns_gpu_"))
    work.mkdir(parents=True, exist_ok=True)
    est = EST_DRY if dry else EST
    bundle = Path(a.bundle)
    site = work / "site"
    models = a.models or (["tiny"] if dry else ["sd15", "sdxl"])
    device = "cpu" if dry else "cuda"
    state: Dict[str, Any] = {}
    dog = watchdog(run, state, a, argv, models, work)

    # 1-2: the host
    if dry:
        host_dir = Path(os.environ.get("NOISE_SEARCH_HOST", REPO / ".host"))
        if glob.glob(str(bundle / "*.whl")):
            run.step("install", est["install"], lambda: install_bundle(bundle, site) + " (exercised; not used)")
        else:
            run.steps.append({"name": "install", "status": f"skipped (dry run: no bundle at {bundle})"})
        shim = write_block_shim(work / "shim")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH", "")]))
        os.environ["NOISE_SEARCH_GPU_BLOCK"] = ",".join(LEFT_OUT)
        os.environ["NS_GPU_PY"] = str(host_dir / "venv" / "bin" / "python")
        run.steps.append({"name": "unpack", "status": f"skipped (dry run: the test host at {host_dir})"})
    else:
        host_dir = work / "host"
        run.step("install", est["install"], lambda: install_bundle(bundle, site) + "; " + check_imports(site))
        run.step("unpack", est["unpack"], lambda: unpack_host(bundle / "comfyui-v0.33.0.tar.gz", host_dir, site))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
        os.environ["NS_GPU_PY"] = str(host_dir / "venv" / "bin" / "python")
        os.environ["NOISE_SEARCH_GPU"] = "1"
    os.environ["NOISE_SEARCH_HOST"] = str(host_dir)
    os.environ["NOISE_SEARCH_FRONTEND_ROOT"] = str(frontend_stub(work / "frontend"))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    comfy = host_dir / "ComfyUI"
    host_needs = () if dry else ("install", "unpack")

    # 3-6, in the order of what matters most: the first model (SD1.5) and the verifier model, the
    # server, the first model's benches, the host tests, then each further model (SDXL): built while
    # the server idles, then benched, as far as the budget goes
    base = work / "base"
    ckdir = base / "models" / "checkpoints"
    clip_dir = base / "models" / "verifiers" / "clip_vit_l14_random"
    dtype = "fp16"
    test_min = 60  # the host tests' minimum: the first model's benches leave it

    def do_build(model):
        p = PLANS[model]
        # the dry run checks the SD1.5 and SDXL layouts on the meta device in the same process (SDXL's
        # full size does not fit this CPU's time)
        info = build(model, ckdir / p["ckpt"], comfy, device, dtype, work / f"{model}.json",
                     timeout=max(run.left() - 5, 10), extra=["--layout-check", "sd15", "sdxl"] if dry else [])
        fig(run, model, "checkpoint", info)
        for fam, det in info.get("layout_checks", {}).items():
            if det != fam.upper():
                raise RuntimeError(f"the host detects the {fam} layout as {det}")
        return (f"{info['bytes'] / 2**30:.2f} GiB, detected {info['detected']}, {info['params']}"
                + (f"; layouts on meta detected as {info['layout_checks']}" if info.get("layout_checks") else ""))

    def do_clip():
        info = build("clip", clip_dir, comfy, device, dtype, work / "clip.json", timeout=max(run.left() - 5, 10))
        fig(run, "verifier_model", "clip", info)
        return f"{info['bytes'] / 2**20:.0f} MiB"

    first = models[0]
    run.step(f"checkpoints:{first}", PLANS[first]["est"]["build"], lambda: do_build(first), needs=host_needs)
    run.step("checkpoints:clip", est["clip"], do_clip, needs=host_needs)

    from scripts.host import ComfyHost, HostError, prepare_base_dir  # noqa: E402  (after NOISE_SEARCH_HOST is set)

    def start():
        ck = ckdir / PLANS[first]["ckpt"]
        prepare_base_dir(base, ck if ck.exists() else None)
        probe = base / "custom_nodes" / "noise_search_gpu_probe"
        if not probe.exists():
            probe.symlink_to(REPO / "bench" / "gpu" / "probe", target_is_directory=True)
        extra = a.server_args.split()
        try:
            state["host"] = ComfyHost.start(base, cpu=dry, extra_args=extra, timeout=max(min(run.left() - 10, 240), 30))
            note = ""
        except HostError as e:
            if dry or "--disable-dynamic-vram" in extra:
                raise
            # dynamic VRAM (comfy-aimdo) is the part of the host most tied to the machine: once without it
            (out / "comfyui-first-start.log").write_text(str(e)[-200_000:])
            extra.append("--disable-dynamic-vram")
            state["host"] = ComfyHost.start(base, cpu=dry, extra_args=extra, timeout=max(min(run.left() - 10, 180), 30))
            note = " (the default start failed: comfyui-first-start.log; started with --disable-dynamic-vram)"
        state["server_args"] = extra
        state["device"] = H.host_device(state["host"])
        return state["device"] + note
    run.step("server", est["server"], start, needs=host_needs)
    host = state.get("host")
    seeds = Seeds(1000)

    def benches(model, reserve):
        p = PLANS[model]
        ckpt = p["ckpt"]
        need = (f"checkpoints:{model}", "server")
        import bench.batching as batching
        import bench.overhead as overhead
        run.step(f"{model}:overhead", p["est"]["overhead"], lambda: fig(run, model, "overhead", overhead.measure(
            host, p["size"], p["steps"], p["overhead_repeats"], ckpt=ckpt)), needs=need, reserve=reserve)
        run.step(f"{model}:batching", p["est"]["batching"], lambda: fig(
            run, model, "batching", measure_sweep(host, p, ckpt, seeds, run, reserve)), needs=need, reserve=reserve)
        run.step(f"{model}:bits", p["est"]["bits"], lambda: fig(run, model, "bits", batching.measure(
            host, p["bits_n"], p["size"], p["sweep_steps"], 1, ckpt=ckpt)), needs=need, reserve=reserve)
        run.step(f"{model}:parity", p["est"]["parity"], lambda: fig(
            run, model, "parity", measure_parity(host, p, ckpt, seeds)), needs=need, reserve=reserve)
        need_v = need + ("checkpoints:clip",)
        run.step(f"{model}:verifier", p["est"]["verifier"], lambda: fig(
            run, model, "verifier", measure_verifier(host, p, ckpt, clip_verifier(host, clip_dir), seeds)),
            needs=need_v, reserve=reserve)
        run.step(f"{model}:memory", p["est"]["memory"], lambda: fig(
            run, model, "memory", measure_memory(host, p, ckpt, clip_verifier(host, clip_dir), seeds)),
            needs=need_v, reserve=reserve)

    def tests():
        env = {**os.environ, "NOISE_SEARCH_ARTIFACTS": str(work / "test-artifacts"),
               "NOISE_SEARCH_SERVER_ARGS": " ".join(state.get("server_args") or a.server_args.split())}
        if dry:
            env.pop("NOISE_SEARCH_GPU", None)
        t = run_tests(os.environ["NS_GPU_PY"], DRY_TESTS if dry else GPU_TESTS, env, out / "pytest.log",
                      timeout=max(min(run.left() - 5, est["tests"] + 60), 10))
        run.figures["tests"] = t
        if t["rc"] not in (0, 1) or not t["counts"]:
            raise RuntimeError(f"pytest rc {t['rc']}: see pytest.log")
        return f"{t['counts']}"

    try:
        benches(first, reserve=0 if a.no_tests else test_min)
        if a.no_tests:
            run.steps.append({"name": "tests", "status": "skipped (--no-tests)"})
        else:
            run.step("tests", test_min, tests, needs=host_needs)
        for model in models[1:]:
            run.step(f"checkpoints:{model}", PLANS[model]["est"]["build"], lambda model=model: do_build(model),
                     needs=host_needs)
            benches(model, reserve=0)
    finally:
        if host is not None:
            host.stop()
            (out / "comfyui.log").write_text(host.log()[-4_000_000:])

    dog.cancel()
    finish(run, state, a, argv, models, work)
    return 0 if not any(s["status"].startswith("failed") for s in run.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
