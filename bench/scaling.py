"""Benchmark 1 — scaling: true score of the selected sample vs search NFE, on the analytic model.

For each budget (a multiple of one trajectory's NFE) and each run seed, every algorithm searches
with the true verifier (log-density under the rare target component of tests.analytic) and we
record the true score of what it selected. The baseline "more steps" spends the same NFE on one
sample with more solver steps (no search). Writes bench/out/scaling.json and scaling.png and prints
a table (mean ± standard error over seeds).

    python bench/scaling.py            # full: 2 configurations, 9 budgets, 32 seeds (~1 min)
    python bench/scaling.py --smoke    # tiny, for tests (< 20 s)
"""
from __future__ import annotations

import argparse
import time
from typing import Dict, List, Optional

try:
    from bench.common import (mean_pairwise_distance, out_dir, plot_panels, print_table, setup_torch, stats,
                              strategy, write_json)
except ImportError:  # run as a script: bench/ is on sys.path, the repo root not yet
    from common import (mean_pairwise_distance, out_dir, plot_panels, print_table, setup_torch, stats,  # type: ignore
                        strategy, write_json)

import torch  # noqa: E402

from search.noise import noise_batch  # noqa: E402  (common put the repo root on sys.path)
from tests.analytic import AnalyticDenoiser  # noqa: E402

ALGORITHMS = ("random", "zero_order", "paths", "particles")
FULL = {"configs": [("ve", "euler"), ("flow", "heun")], "mults": [1, 2, 4, 8, 16, 32, 64, 128, 256],
        "seeds": 32}
SMOKE = {"configs": [("ve", "euler")], "mults": [1, 2, 4], "seeds": 3}
STEPS, MEAN_SHIFT = 10, 0.25


def make(param: str, solver: str, steps: int = STEPS) -> AnalyticDenoiser:
    return AnalyticDenoiser(param, steps=steps, solver=solver, mean_shift=MEAN_SHIFT)


def more_steps(param: str, solver: str, nfe: int, seeds: List[int]):
    """No search: one sample per seed, with the most steps whose trajectory fits in ``nfe``."""
    steps = STEPS
    while make(param, solver, steps + 1).cost(0, steps + 1) <= nfe:
        steps += 1
    den = make(param, solver, steps)
    x = den.sample(noise_batch(den.latent_shape, seeds), den.last, seeds)
    return [float(v) for v in den.true_score(x)], den.cost(0, den.last), steps, x


def run(mode: Dict, max_batch: int = 16) -> Dict:
    seeds = [7919 * i + 11 for i in range(mode["seeds"])]
    out = {"benchmark": "scaling", "steps": STEPS, "mean_shift": MEAN_SHIFT, "seeds": seeds,
           "verifier": "true log-density under the target component", "configs": {}}
    for param, solver in mode["configs"]:
        T = make(param, solver).cost(0, STEPS)
        cfg = {"parameterization": param, "solver": solver, "trajectory_nfe": T,
               "budgets": [m * T for m in mode["mults"]], "algorithms": {}}
        for algo in ALGORITHMS + ("more_steps",):
            rows = {"nfe": [], "score": [], "sem": [], "std": [], "q25": [], "q75": [], "diversity": [],
                    "verifier_calls": []}
            for budget in cfg["budgets"]:
                if algo == "more_steps":
                    scores, nfe, steps, xs = more_steps(param, solver, budget, seeds)
                    nfes, calls = [nfe] * len(seeds), [0] * len(seeds)
                else:
                    scores, nfes, calls, xs = [], [], [], []
                    for s in seeds:
                        den = make(param, solver)
                        res = strategy(algo, budget, T).run(den, s, max_batch=max_batch, budget=budget)
                        assert res.nfe <= budget
                        scores.append(float(den.true_score(res.best_latent)[0]))
                        nfes.append(res.nfe)
                        calls.append(res.verifier_calls)
                        xs.append(res.best_latent)
                    xs = torch.cat(xs)
                st = stats(scores)
                rows["nfe"].append(sum(nfes) / len(nfes))
                rows["score"].append(st["mean"])
                rows["sem"].append(st["sem"])
                rows["std"].append(st["std"])
                rows["q25"].append(st["q25"])
                rows["q75"].append(st["q75"])
                rows["diversity"].append(mean_pairwise_distance(xs))
                rows["verifier_calls"].append(sum(calls) / len(calls))
            cfg["algorithms"][algo] = rows
        out["configs"][f"{param}/{solver}"] = cfg
    return out


def report(data: Dict, folder) -> None:
    panels = []
    for key, cfg in data["configs"].items():
        headers = ["budget NFE"] + list(cfg["algorithms"])
        table = []
        for i, b in enumerate(cfg["budgets"]):
            table.append([b] + [f"{a['score'][i]:7.2f} ± {a['sem'][i]:.2f}" for a in cfg["algorithms"].values()])
        print(f"\n[scaling] {key}: mean true score of the selected sample (± s.e.m., {len(data['seeds'])} seeds)")
        print_table(headers, table)
        series = {}
        for name, a in cfg["algorithms"].items():
            series[name] = {"x": cfg["budgets"], "mean": a["score"],
                            "lo": [m - s for m, s in zip(a["score"], a["sem"])],
                            "hi": [m + s for m, s in zip(a["score"], a["sem"])],
                            "style": "--s" if name == "more_steps" else "-o"}
        panels.append({"title": f"{key} (T = {cfg['trajectory_nfe']} NFE)", "xlabel": "NFE per sample (budget)",
                       "ylabel": "true score of selected sample (log-density)", "series": series})
    plot_panels(folder / "scaling.png", panels, "Search over noise vs more denoising steps (analytic GMM)")


def main(argv: Optional[List[str]] = None) -> Dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny budgets and seeds (< 20 s)")
    ap.add_argument("--out", default=None, help="output folder (default bench/out)")
    ap.add_argument("--max-batch", type=int, default=16)
    args = ap.parse_args(argv)
    setup_torch()
    t0 = time.time()
    data = run(SMOKE if args.smoke else FULL, args.max_batch)
    data["mode"] = "smoke" if args.smoke else "full"
    data["elapsed_s"] = round(time.time() - t0, 2)
    folder = out_dir(args.out)
    report(data, folder)
    write_json(folder / "scaling.json", data)
    print(f"\n[scaling] wrote {folder / 'scaling.json'} and {folder / 'scaling.png'} in {data['elapsed_s']} s")
    return data


if __name__ == "__main__":
    main()
