"""Peak memory of a search over paths: decoded intermediates kept (before) against released (after).

Until issue 10, every image the search decoded stayed cached as float32 for the whole search,
including the x0 predictions that search over paths scores at every hop and never looks at again.
Now the search releases them once scored (``search.decide.release`` -> ``nodes/scoring.py``);
``NOISE_SEARCH_KEEP_DECODED=1`` restores the old cache, so one run measures both.

Each setting runs in its own fresh process (peak RSS, ``ru_maxrss``, only grows): the real
``PathsSearch`` and the real ``nodes.scoring.Scorer`` (with the weight-free Brightness verifier)
over the analytic Gaussian-mixture model (``tests/analytic.py``) with SDXL-shaped latents
[4, S/8, S/8], decoded by a fixed 8x nearest-neighbour upsampler to S x S RGB float32 images (the
image size the real VAE makes; a ComfyUI server on this shared 2-core machine needs > 15 min per
search at these sizes). Reported: peak RSS, peak above the RSS before the search, and after/before.

    .host/venv/bin/python bench/paths_memory.py [--size 512] [--steps 12] [--n 4] [--m 4] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import host_common as H  # noqa: E402

MB = 1024 ** 2
SETTINGS = {"before: every decoded image kept": "1", "after: intermediates released": "0"}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def child(size: int, steps: int, n: int, m: int) -> dict:
    """One search in this process; prints its numbers as JSON."""
    import torch
    pkg = types.ModuleType("nspack")
    pkg.__path__ = [str(REPO)]
    sys.modules["nspack"] = pkg
    sub = types.ModuleType("nspack.nodes")  # skip nodes/__init__ (it imports ComfyUI)
    sub.__path__ = [str(REPO / "nodes")]
    sys.modules["nspack.nodes"] = sub
    import importlib
    scoring = importlib.import_module("nspack.nodes.scoring")
    rt = importlib.import_module("nspack.nodes.verifier_runtime")
    V = importlib.import_module("nspack.verifiers")
    from search import PathsSearch
    from tests.analytic import AnalyticDenoiser, default_mixture
    h = size // 8

    class Upsample:  # latent [1, 4*h*h] -> IMAGE [1, 8h, 8h, 3]
        def decode(self, z):
            x = z.reshape(z.shape[0], 4, h, h)[:, :3].sigmoid()
            return x.repeat_interleave(8, 2).repeat_interleave(8, 3).permute(0, 2, 3, 1).contiguous()

    den = AnalyticDenoiser("ve", steps=steps, mixture=default_mixture(4 * h * h))
    scorer = scoring.Scorer(Upsample(), rt.BoundVerifier(V.Brightness(0.5), ""), n * m)
    den.score = lambda x0, mid=None: scorer(scorer.decode(x0), None)
    den.release = scorer.release
    torch.set_num_threads(1)
    base = rss_mb()
    res = PathsSearch(n=n, m=m, start=2, delta_f=1, delta_b=2).run(den, 1, max_batch=n * m)
    images = scorer.decode(res.finals)  # what the node outputs
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    inter = sum(1 for c in res.candidates if c.stage != "final")
    return {"rss_before_search_mb": base, "peak_mb": peak, "peak_above_start_mb": peak - base,
            "intermediates": inter, "finals": int(images.shape[0]), "cached_after": len(scorer.cache.images),
            "image_mb": size * size * 3 * 4 / MB}


def measure(keep: str, a) -> dict:
    env = {**os.environ, "NOISE_SEARCH_KEEP_DECODED": keep, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, __file__, "--child", str(a.size), str(a.steps), str(a.n), str(a.m)],
                       env=env, capture_output=True, text=True, check=True, cwd=str(REPO))
    return json.loads(r.stdout.strip().splitlines()[-1])


def plot(res, path):
    plt = H.plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    names = list(res["settings"])
    ax.barh(names, [res["settings"][k]["peak_above_start_mb"] for k in names], color=["#c44", "#4a4"])
    ax.set_xlabel("peak RSS above the RSS before the search, MiB")
    ax.set_title(f"search over paths N={res['n']} M={res['m']}, {res['size']}², {res['steps']} steps: "
                 f"after/before = {res['ratio_above_start']:.2f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(*[int(v) for v in argv[1:5]])))
        return None
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--smoke", action="store_true", help="tiny: 64², 4 steps")
    a = ap.parse_args(argv)
    if a.smoke:
        a.size, a.steps = 64, 4
    results = {name: measure(keep, a) for name, keep in SETTINGS.items()}
    before, after = results.values()
    res = {"settings": results, "size": a.size, "steps": a.steps, "n": a.n, "m": a.m, "measure": "process RSS",
           "ratio_peak": after["peak_mb"] / before["peak_mb"],
           "ratio_above_start": after["peak_above_start_mb"] / before["peak_above_start_mb"],
           "machine": H.machine("cpu"), "command": H.command_line(), "smoke": a.smoke}
    name = "paths_memory_smoke" if a.smoke else "paths_memory"
    rows = [[k, v["intermediates"], v["finals"], v["rss_before_search_mb"], v["peak_mb"], v["peak_above_start_mb"]]
            for k, v in results.items()]
    res["table"] = H.table(rows, ["setting", "intermediate x0 scored", "finals", "RSS before MiB", "peak MiB",
                                  "peak above start MiB"])
    H.save_json(name, res)
    plot(res, H.out_dir() / f"{name}.png")
    if not a.smoke:
        H.update_readme_section(name, f"""### Peak memory of search over paths: decoded intermediates kept vs released

Command: `{res['command']}` (one process per setting; real `PathsSearch` + `nodes.scoring.Scorer`, analytic
model, N={a.n}, M={a.m}, {a.size}² float32 images, {a.steps} steps; "before" is `NOISE_SEARCH_KEEP_DECODED=1`,
the cache as it was before issue 10)

{res['table']}

After/before: peak RSS {res['ratio_peak']:.3f}, peak above the RSS before the search {res['ratio_above_start']:.3f}.

![paths memory](out/{name}.png)""")
    print(res["table"])
    print(f"after/before: peak {res['ratio_peak']:.3f}, above start {res['ratio_above_start']:.3f}")
    return res


if __name__ == "__main__":
    main()
