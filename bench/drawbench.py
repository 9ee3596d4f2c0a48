"""DrawBench harness: search configurations × DrawBench prompts, scored by held-out verifiers, in
the layout of the paper's Table 2 (rows = search configuration, columns = Aesthetic, CLIPScore,
ImageReward, LLM grader). The LLM-grader column is the pack's VLM judge (``--vlm-model``, default
Qwen2.5-VL-3B-Instruct; ``--vlm-mode`` overall, mean of the five rubric axes, one axis, or vqascore):
the expected 0-10 score under the VLM's next-token probabilities, held out like the others.

Every image is made through the ComfyUI API with the pack's own nodes (so what is measured is
what users run): CheckpointLoaderSimple → CLIPTextEncode → NoiseSearchSampler (search verifier,
strategy) → VAEDecode(best latent) → SaveImage. The winner is fetched with /view and scored here by
the evaluation verifiers (the pack's verifier classes, loaded once in this process, on CUDA when
available). ``N=1`` (no search) is always the first row, the paper's baseline.

Resumable: every finished (prompt, configuration) is a line of ``OUT/results.jsonl``; a rerun skips
them. ``OUT/table.md`` and ``OUT/summary.json`` are rewritten at the end.

The images are made through the cluster room (``cluster/``, Ray): one server by default, or
``--servers K`` (one per GPU), several ``--url``, or ``--address`` of a Ray cluster; each task's
winner, report and line stream into ``OUT/generation/`` (resumable the same way) and are scored
here as they arrive.

    # a GPU machine with real weights (in ComfyUI's models/checkpoints and models/verifiers or the HF cache)
    .host/venv/bin/python bench/drawbench.py --url http://127.0.0.1:8188 --checkpoint sd_v1-5.safetensors \\
        --search-verifier image_reward --configs 1 4 16 zero_order:4x4 paths:4x2 --steps 30 --size 512 --out bench/out/drawbench

    # CPU smoke test on the tiny checkpoint with tiny random-weight evaluation verifiers
    .host/venv/bin/python bench/drawbench.py --tiny --limit 2 --out bench/out/drawbench_smoke

    # every GPU of this machine, one server each, from your ComfyUI folder (checkpoint by name)
    python bench/drawbench.py --comfy ~/ComfyUI --servers 8 --checkpoint sd_v1-5.safetensors ...

Search verifiers: sharpness, color, clip, aesthetic, image_reward, ensemble (clip + aesthetic +
image_reward by average rank). Configurations: ``N`` (random search, N candidates),
``zero_order:NxK`` (N neighbours, K iterations, λ=0.5), ``paths:NxM`` (N paths, M copies).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402
from cluster import jobs as J, tasks as T  # noqa: E402
from cluster.cli import start_pool  # noqa: E402

PROMPTS = Path(__file__).resolve().parent / "data" / "drawbench.txt"
EVAL_COLUMNS = ("Aesthetic", "CLIPScore", "ImageReward", "LLM grader")


def load_prompts(path: Path = PROMPTS) -> List[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


# -- models -------------------------------------------------------------------------------------------
class Specs:
    def __init__(self, a):
        self.clip, self.head, self.aesthetic_clip, self.image_reward = (a.clip_model, a.aesthetic_head,
                                                                         a.aesthetic_clip or a.clip_model,
                                                                         a.image_reward_model)
        self.vlm, self.vlm_mode = a.vlm_model, a.vlm_mode


def make_tiny_specs(folder: Path, a):
    """Tiny random-weight CLIP / aesthetic head / ImageReward (tests/tiny_models.py) as local paths."""
    from tests.tiny_models import make_aesthetic_head, make_clip_dir, make_image_reward_files
    a.clip_model = make_clip_dir(str(folder / "tiny_clip"))
    a.aesthetic_head = make_aesthetic_head(str(folder / "tiny_head.pth"), dim=16)
    a.aesthetic_clip = a.clip_model
    a.image_reward_model = make_image_reward_files(str(folder / "tiny_ir"))
    from tests.tiny_vlm import make_vlm_dir
    a.vlm_model = make_vlm_dir(str(folder / "tiny_vlm"))


def verifier_node(kind: str, prompt: str, s: Specs) -> Dict:
    if kind == "sharpness":
        return {"class_type": "NoiseSearchSharpness", "inputs": {}}
    if kind == "color":
        return {"class_type": "NoiseSearchColorTarget", "inputs": {"color": "#c03030"}}
    # the combos keep the server's default; the *_override strings (paths or hub ids) win
    if kind == "clip":
        return {"class_type": "NoiseSearchCLIPScore", "inputs": {"model_override": s.clip, "prompt": prompt,
                                                                  "clamp_negative": False}}
    if kind == "aesthetic":
        return {"class_type": "NoiseSearchAesthetic", "inputs": {"head_override": s.head,
                                                                  "clip_override": s.aesthetic_clip}}
    if kind == "image_reward":
        return {"class_type": "NoiseSearchImageReward", "inputs": {"model_override": s.image_reward,
                                                                    "prompt": prompt}}
    raise ValueError(f"unknown search verifier {kind!r}")


def with_defaults(info: Dict, node: Dict) -> Dict:
    """A node with the server's widget defaults for every input not given."""
    spec = info.get(node["class_type"])
    if spec is None:
        raise SystemExit(f"the server has no {node['class_type']} node (is the pack up to date?)")
    return {"class_type": node["class_type"], "inputs": {**H.default_inputs(spec), **node["inputs"]}}


def add_verifier(wf: Dict, info: Dict, kind: str, prompt: str, s: Specs) -> List:
    """Add the search verifier's node(s) to ``wf``; returns the link to its NS_VERIFIER output."""
    if kind != "ensemble":
        wf["verifier"] = with_defaults(info, verifier_node(kind, prompt, s))
        return ["verifier", 0]
    for i, k in enumerate(("clip", "aesthetic", "image_reward"), 1):
        wf[f"v{i}"] = with_defaults(info, verifier_node(k, prompt, s))
    wf["verifier"] = {"class_type": "NoiseSearchEnsemble", "inputs": {
        "verifier_1": ["v1", 0], "verifier_2": ["v2", 0], "verifier_3": ["v3", 0], "weight_1": 1.0,
        "weight_2": 1.0, "weight_3": 1.0}}
    return ["verifier", 0]


def strategy_node(config: str):
    """(label, strategy node or None, candidates)."""
    if ":" not in config:
        n = int(config)
        return (f"random N={n}" if n > 1 else "no search (N=1)"), None, n
    kind, arg = config.split(":", 1)
    a, b = (int(x) for x in arg.lower().split("x"))
    if kind == "zero_order":
        return f"zero-order N={a} K={b}", {"class_type": "NoiseSearchZeroOrder",
                                           "inputs": {"n_neighbors": a, "iterations": b, "lam": 0.5}}, 1
    if kind == "paths":
        return f"paths N={a} M={b}", {"class_type": "NoiseSearchPaths", "inputs": {"n": a, "m": b}}, 1
    raise ValueError(f"unknown configuration {config!r}")


def fill_defaults(info: Dict, node: Dict) -> Dict:
    """A strategy node with the server's widget defaults; only inputs the server knows are kept."""
    full = with_defaults(info, {"class_type": node["class_type"], "inputs": {}})
    d = full["inputs"]
    full["inputs"] = {**d, **{k: v for k, v in node["inputs"].items() if k in d}}
    return full


def build_workflow(info, a, specs: Specs, prompt: str, config: str, seed: int):
    label, strat, n = strategy_node(config)
    wf = H.wf_base(a.size, a.size, prompt=prompt, ckpt=a.checkpoint_name, negative=a.negative)
    link = add_verifier(wf, info, a.search_verifier, prompt, specs)
    wf["search"] = {"class_type": "NoiseSearchSampler", "inputs": {
        "model": ["ckpt", 0], "seed": seed, "steps": a.steps, "cfg": a.cfg, "sampler_name": a.sampler,
        "scheduler": a.scheduler, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
        "denoise": 1.0, "vae": ["ckpt", 2], "verifier": link, "candidates": n, "max_batch": a.max_batch,
        "budget_nfe": 0, "rerender_winner": False}}
    if strat is not None:
        if strat["class_type"] == "NoiseSearchPaths":  # node default start=4, kept inside short schedules
            strat["inputs"]["start"] = max(2, min(4, a.steps - 1))
        wf["strategy"] = fill_defaults(info, strat)
        wf["search"]["inputs"]["strategy"] = ["strategy", 0]
    wf["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["search", 0], "vae": ["ckpt", 2]}}
    wf["save"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "drawbench"}}
    return label, wf


def open_pool(a, ckpt_path, tmp: Path):
    """The cluster's workers for this run (see cluster/cli.py): the --url servers, or servers
    started from --comfy, or from the test host with the checkpoint in a prepared base directory."""
    from scripts.host import COMFY, VENV_PY, prepare_base_dir
    gpu = H.cuda_available() and not a.url
    spec = {"cpu": not gpu}
    if a.comfy is not None:
        spec["comfy"] = str(a.comfy.expanduser().resolve())
    elif not a.url:
        base = prepare_base_dir(tmp / "base", ckpt_path)
        spec.update(base_dir=str(base), comfy=str(COMFY), python=str(VENV_PY))
    return start_pool(a.address, a.servers, a.url, spec)


def ray_get(pool, ref):
    return pool.ray.get(ref, timeout=300)


def load_evaluators(specs: Specs, which: List[str]):
    import torch
    try:
        import transformers
        transformers.logging.set_verbosity_error()
    except ImportError:
        pass
    from verifiers import AestheticScore, CLIPScore, ImageReward, VLMJudge
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    ev = {}
    if "Aesthetic" in which:
        ev["Aesthetic"] = AestheticScore.from_pretrained(specs.head, clip=specs.aesthetic_clip)
    if "CLIPScore" in which:
        ev["CLIPScore"] = CLIPScore.from_pretrained(specs.clip)
    if "ImageReward" in which:
        ev["ImageReward"] = ImageReward.from_pretrained(specs.image_reward)
    if "LLM grader" in which:
        ev["LLM grader"] = VLMJudge.from_pretrained(specs.vlm, mode=specs.vlm_mode,
                                                    dtype=torch.bfloat16 if dev == "cuda" else None)
    for v in ev.values():
        v.to(dev)
    return ev


def evaluate(evals, png: bytes, prompt: str) -> Dict[str, float]:
    import numpy as np
    import torch
    from PIL import Image
    img = torch.from_numpy(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype("float32") / 255.0)[None]
    return {k: float(v.score(img, prompt)[0]) for k, v in evals.items()}


def summarize(rows: List[Dict], configs: List[str], columns) -> Dict:
    out = {}
    for c in configs:
        rs = [r for r in rows if r["config"] == c]
        if not rs:
            continue
        out[c] = {"label": rs[0]["label"], "prompts": len(rs),
                  "mean_nfe": sum(r["nfe"] for r in rs) / len(rs),
                  "mean_verifier_calls": sum(r["verifier_calls"] for r in rs) / len(rs),
                  **{k: sum(r["scores"][k] for r in rs) / len(rs) for k in columns}}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", action="append", default=[],
                    help="an existing ComfyUI server (repeat for several); else servers are started")
    ap.add_argument("--servers", type=int, default=None,
                    help="servers to start (default: one per GPU, one on a CPU machine)")
    ap.add_argument("--address", default=None, help="a Ray cluster to run on (default: an embedded, "
                    "loopback-only Ray instance); its nodes need the checkpoint in --comfy's models")
    ap.add_argument("--comfy", type=Path, default=None, help="your ComfyUI folder to start servers from "
                    "(its models and custom nodes; --checkpoint is a name there); default: the test host "
                    "with the checkpoint linked into a temporary base directory")
    ap.add_argument("--checkpoint", default=H.CKPT, help="checkpoint: a name in the server's models/checkpoints, "
                    "or (when the server is started here) a path to link in")
    ap.add_argument("--search-verifier", default="image_reward",
                    choices=["sharpness", "color", "clip", "aesthetic", "image_reward", "ensemble"])
    ap.add_argument("--configs", nargs="+", default=["1", "4", "16"],
                    help="N | zero_order:NxK | paths:NxM; '1' (no search) is added first when missing")
    ap.add_argument("--eval", nargs="+", default=list(EVAL_COLUMNS), choices=list(EVAL_COLUMNS),
                    help="held-out evaluation verifiers (columns)")
    ap.add_argument("--clip-model", default="openai/clip-vit-large-patch14")
    ap.add_argument("--aesthetic-head", default="sac+logos+ava1-l14-linearMSE.pth")
    ap.add_argument("--aesthetic-clip", default=None, help="CLIP for the aesthetic head (default: --clip-model)")
    ap.add_argument("--image-reward-model", default="THUDM/ImageReward")
    ap.add_argument("--vlm-model", default="Qwen/Qwen2.5-VL-3B-Instruct", help="the LLM-grader column's VLM judge")
    ap.add_argument("--vlm-mode", default="overall", help="overall | mean | accuracy | creativity | quality | "
                    "consistency | resonance | vqascore")
    ap.add_argument("--tiny", action="store_true", help="tiny random-weight evaluation/search verifiers (smoke tests)")
    ap.add_argument("--limit", type=int, default=None, help="first N prompts only")
    ap.add_argument("--prompts", type=Path, default=PROMPTS)
    ap.add_argument("--out", type=Path, default=H.OUT / "drawbench")
    ap.add_argument("--seed", type=int, default=0, help="base seed; prompt i uses seed + 1000 * i")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cfg", type=float, default=7.5)
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--scheduler", default="normal")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--negative", default="")
    a = ap.parse_args(argv)
    if a.tiny and a.steps == 30 and a.size == 512:
        a.steps, a.size = 3, 64
    configs = list(dict.fromkeys(["1"] + a.configs))
    prompts = load_prompts(a.prompts)[: a.limit]
    a.out.mkdir(parents=True, exist_ok=True)
    done_path = a.out / "results.jsonl"
    rows = [json.loads(ln) for ln in done_path.read_text().splitlines() if ln.strip()] if done_path.exists() else []
    done = {(r["prompt_index"], r["config"]) for r in rows}
    todo = [(i, c) for i in range(len(prompts)) for c in configs if (i, c) not in done]
    ckpt_path = Path(a.checkpoint) if Path(a.checkpoint).exists() else None
    a.checkpoint_name = ckpt_path.name if ckpt_path else a.checkpoint

    tmp = tempfile.TemporaryDirectory(prefix="ns_drawbench_")
    if a.tiny:
        make_tiny_specs(Path(tmp.name), a)
    specs = Specs(a)
    t0 = time.time()
    if todo:
        evals = load_evaluators(specs, a.eval)
        pool = open_pool(a, ckpt_path, Path(tmp.name))
        try:
            info = ray_get(pool, pool.handles[0].object_info.remote())
            tasks = []
            for i, c in todo:
                label, wf = build_workflow(info, a, specs, prompts[i], c, a.seed + 1000 * i)
                T.add_report_preview(wf)
                key = f"p{i:04d}_{T.slug(c, 20)}_{T.digest([prompts[i], c, a.seed + 1000 * i])}"
                tasks.append(T.Task(key=key, workflow=wf, prompt_index=i, prompt=prompts[i],
                                    setting={"config": c}, label=label, fetch=("save",)))
            by_key = {t.key: t for t in tasks}
            with open(done_path, "a") as f:
                def scored(gen, png):
                    t = by_key[gen["key"]]
                    if gen.get("status") != "ok":  # left out of the table; the next run tries it again
                        print(f"prompt {t.prompt_index} {t.label} failed on {gen.get('server')}: {gen.get('error')}",
                              file=sys.stderr, flush=True)
                        return
                    i, c = t.prompt_index, t.setting["config"]
                    row = {"prompt_index": i, "prompt": prompts[i], "config": c, "label": t.label,
                           "search_verifier": a.search_verifier, "best_seed": gen["best_seed"],
                           "search_score": gen["best_score"], "nfe": gen["nfe"],
                           "verifier_calls": gen["verifier_calls"],
                           "seconds": gen.get("server_seconds") or gen["seconds"], "server": gen.get("server"),
                           "scores": evaluate(evals, png, prompts[i])}
                    f.write(json.dumps(row) + "\n")
                    f.flush()
                    rows.append(row)
                    done.add((i, c))

                gen_dir = a.out / "generation"
                J.run_tasks(pool, tasks, gen_dir, retry_errors=True, on_row=scored)
                # made in an earlier run that stopped before scoring them
                for g in T.OutputFolder(gen_dir).rows():
                    t = by_key.get(g["key"])
                    if t is not None and (t.prompt_index, t.setting["config"]) not in done and g.get("image"):
                        scored(g, (gen_dir / g["image"]).read_bytes())
        finally:
            pool.close()
    tmp.cleanup()
    rows = [r for r in rows if r["prompt_index"] < len(prompts)]
    summ = summarize(rows, configs, a.eval)
    table = H.table([[s["label"] + f" ({a.search_verifier})" if c != "1" else s["label"], s["mean_nfe"],
                      *[s[k] for k in a.eval]] for c, s in summ.items()],
                    ["search configuration", "NFE / prompt", *a.eval])
    header = (f"DrawBench, {len(prompts)} prompts, checkpoint {a.checkpoint_name}, {a.size}², {a.sampler} "
              f"{a.steps} steps, cfg {a.cfg}; search verifier {a.search_verifier}; columns: held-out "
              "evaluation verifiers (mean over prompts)" + (" — TINY random-weight verifiers: smoke test only"
                                                            if a.tiny else ""))
    (a.out / "table.md").write_text(header + "\n\n" + table + "\n")
    summary = {"header": header, "table": summ, "configs": configs, "eval": a.eval, "prompts": len(prompts),
               "done": len(rows), "seconds_this_run": time.time() - t0, "command": H.command_line(),
               "machine": H.machine(), "tiny": a.tiny}
    (a.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(header + "\n\n" + table)
    return summary


if __name__ == "__main__":
    main()
