"""Run an example workflow through a real ComfyUI host and write the winner, a candidate grid and the
search report.  Usually started through ``bash scripts/demo.sh`` (which sets the host up first).

    python scripts/demo.py [--checkpoint PATH] [--workflow api_workflows/NAME.api.json] [--out DIR] [--size PX]

Without --checkpoint it runs on the tiny random-weight checkpoint (a smoke run: the pictures are
noise-like, the search and its report are real). With --checkpoint it runs on your model.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.examples import API_DIR  # noqa: E402
from scripts.host import ComfyHost, HostError, TINY_NAME, prepare_base_dir  # noqa: E402

DEFAULT_WORKFLOW = API_DIR / "best_of_n_color.api.json"
SEARCH_NODES = ("NoiseSearchSampler", "NoiseSearchSamplerAdvanced")


def prepare_workflow(wf: dict, ckpt_name: str, size: int | None, seed: int | None) -> tuple[dict, str]:
    search_id = next((k for k, v in wf.items() if v["class_type"] in SEARCH_NODES), None)
    if search_id is None:
        raise SystemExit("the workflow has no Noise Search sampler node")
    for node in wf.values():
        if node["class_type"] == "CheckpointLoaderSimple":
            node["inputs"]["ckpt_name"] = ckpt_name
        if size and node["class_type"] in ("EmptyLatentImage", "EmptySD3LatentImage"):
            node["inputs"]["width"] = node["inputs"]["height"] = size
    s = wf[search_id]["inputs"]
    if seed is not None:
        if "seed" in s:
            s["seed"] = seed
        else:
            noise = wf[s["noise"][0]]["inputs"]
            noise["noise_seed"] = seed
    vae = s["vae"]
    wf["demo_decode"] = {"class_type": "VAEDecode", "inputs": {"samples": [search_id, 0], "vae": vae}}
    wf["demo_best"] = {"class_type": "SaveImage", "inputs": {"images": ["demo_decode", 0], "filename_prefix": "demo_best"}}
    wf["demo_candidates"] = {"class_type": "SaveImage", "inputs": {"images": [search_id, 1],
                                                                   "filename_prefix": "demo_candidate"}}
    return wf, search_id


def grid(images, cols: int):
    from PIL import Image
    w, h = images[0].size
    rows = (len(images) + cols - 1) // cols
    g = Image.new("RGB", (cols * w, rows * h), "white")
    for i, im in enumerate(images):
        g.paste(im, ((i % cols) * w, (i // cols) * h))
    return g


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="your checkpoint (.safetensors); default: the tiny test model")
    ap.add_argument("--workflow", default=str(DEFAULT_WORKFLOW), help="an API-format workflow with a search node")
    ap.add_argument("--out", default=str(REPO / "demo-output"))
    ap.add_argument("--size", type=int, help="image size in pixels (default: 64 on the tiny test model, the "
                                             "workflow's own with --checkpoint)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep-base", action="store_true", help="keep the ComfyUI base directory for inspection")
    a = ap.parse_args(argv)
    from PIL import Image

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="noise-search-demo-"))
    ckpt = Path(a.checkpoint).resolve() if a.checkpoint else None
    if ckpt is not None and not ckpt.is_file():
        raise SystemExit(f"--checkpoint: no file at {ckpt}")
    prepare_base_dir(base, ckpt)
    size = a.size or (None if ckpt else 64)  # the tiny model is a smoke run: keep it fast on a CPU
    wf, search_id = prepare_workflow(json.loads(Path(a.workflow).read_text()), ckpt.name if ckpt else TINY_NAME,
                                     size, a.seed)
    t0 = time.time()
    print(f"[demo] starting ComfyUI (base dir {base})", flush=True)
    host = ComfyHost.start(base)
    try:
        print(f"[demo] running {Path(a.workflow).name} on {ckpt.name if ckpt else 'the tiny test checkpoint'}", flush=True)
        outputs = host.run(wf, timeout=24 * 3600)
        report = outputs[search_id]["noise_search"][0]
        best = Image.open(io.BytesIO(host.view(outputs["demo_best"]["images"][0]))).convert("RGB")
        cands = [Image.open(io.BytesIO(host.view(im))).convert("RGB") for im in outputs["demo_candidates"]["images"]]
    except HostError as e:
        print(f"[demo] failed: {e}\n--- ComfyUI log (end) ---\n{host.log()[-3000:]}", file=sys.stderr)
        raise SystemExit(1)
    finally:
        host.stop()
        if not a.keep_base:
            shutil.rmtree(base, ignore_errors=True)
    best.save(out / "best.png")
    grid(cands, cols=min(4, len(cands))).save(out / "candidates.png")
    (out / "report.json").write_text(json.dumps(report, indent=2))

    cs = report["candidates"]
    finals = set(report.get("finals", []))
    print("\n== noise search demo " + "=" * 50)
    print(f"workflow   {Path(a.workflow).name}   algorithm {report['algorithm']}   "
          f"verifier {report['settings']['verifier']['name']}")
    print(f"sampler    {report['settings']['sampler']} x {report['settings']['steps']} steps   "
          f"model {ckpt.name if ckpt else 'tiny test checkpoint (random weights)'}")
    print(f"spent      {report['totals']['nfe']} NFE, {report['totals']['verifier_calls']} verifier calls, "
          f"{time.time() - t0:.0f} s")
    print(f"{'cand':>5} {'seed':>12} {'score':>10} {'nfe':>6}  stage")
    for c in cs[:12]:
        mark = " <- best" if c["index"] == report["best"]["candidate"] else ""
        print(f"{c['index']:>5} {str(c['seed']):>12} {c['score']:>10.4f} {c['nfe']:>6}  {c['stage']}{mark}")
    if len(cs) > 12:
        print(f"  … {len(cs) - 12} more in report.json")
    seed = report["best"]["seed"]
    print(f"best       score {report['best']['score']:.4f}" +
          (f", seed {seed} (use it in a plain KSampler to get the same image)" if seed is not None else
           ", reproduce with the report's recipe or the best_noise output"))
    print(f"wrote      {out / 'best.png'}, {out / 'candidates.png'} ({len(cands)} candidates), {out / 'report.json'}")


if __name__ == "__main__":
    main()
