"""Benchmark 2 — verifier hacking: search a biased verifier, watch the held-out true score.

The analytic model's "biased" verifier scores x0 by the true log-density under the target
component *plus* beta <x0, u>, u an off-target direction (here e_4, a dimension along which no
component's mean moves). Within the target component its optimum lies beta s^2 away from the mode,
where the true log-density is beta^2 s^2 / 2 lower than at the mode, and lower than a typical
sample's once beta s > sqrt(D). Searching it harder therefore first finds the target component
(the held-out true score rises), then exploits the bias (the searched score keeps rising while the
held-out score falls). Diversity is the mean pairwise distance between the samples selected for
different run seeds; it shrinks with budget as selection concentrates on one region. "oracle" searches the true verifier with
the same algorithm and budget, for reference. Writes bench/out/hacking.json and hacking.png.

    python bench/hacking.py            # full: 10 budgets, 32 seeds (~1.5 min)
    python bench/hacking.py --smoke    # tiny, for tests (< 20 s)
"""
from __future__ import annotations

import argparse
import time
from typing import Dict, List, Optional

try:
    from bench.common import (mean_pairwise_distance, out_dir, plot_panels, print_table, setup_torch, stats,
                              strategy, write_json)
except ImportError:  # run as a script
    from common import (mean_pairwise_distance, out_dir, plot_panels, print_table, setup_torch, stats,  # type: ignore
                        strategy, write_json)

import torch  # noqa: E402

from tests.analytic import AnalyticDenoiser  # noqa: E402

ALGORITHMS = ("random", "zero_order", "paths", "particles")
COLORS = {"random": "C0", "zero_order": "C1", "paths": "C2", "particles": "C3"}
FULL = {"mults": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], "seeds": 32, "algorithms": ALGORITHMS}
SMOKE = {"mults": [1, 4], "seeds": 3, "algorithms": ALGORITHMS}
SETTINGS = {"parameterization": "ve", "solver": "euler", "steps": 10, "mean_shift": 0.25, "target": 1,
            "beta": 5.0, "bias_direction": [0.0, 0.0, 0.0, 1.0]}


def make(verifier: str) -> AnalyticDenoiser:
    s = SETTINGS
    return AnalyticDenoiser(s["parameterization"], steps=s["steps"], solver=s["solver"], mean_shift=s["mean_shift"],
                            target=s["target"], verifier=verifier, beta=s["beta"],
                            bias_direction=s["bias_direction"])


def run(mode: Dict, max_batch: int = 16) -> Dict:
    seeds = [7919 * i + 23 for i in range(mode["seeds"])]
    T = make("biased").cost(0, SETTINGS["steps"])
    budgets = [m * T for m in mode["mults"]]
    out = {"benchmark": "hacking", "settings": SETTINGS, "seeds": seeds, "trajectory_nfe": T,
           "budgets": budgets, "algorithms": {}}
    for algo in mode["algorithms"]:
        rows = {k: [] for k in ("nfe", "searched", "searched_sem", "held_out", "held_out_sem", "oracle_held_out",
                                "oracle_held_out_sem", "diversity", "oracle_diversity")}
        for budget in budgets:
            searched, held, oracle, xs, oxs, nfes = [], [], [], [], [], []
            for s in seeds:
                den = make("biased")
                res = strategy(algo, budget, T).run(den, s, max_batch=max_batch, budget=budget)
                assert res.nfe <= budget
                searched.append(res.best_score)
                held.append(float(den.true_score(res.best_latent)[0]))
                xs.append(res.best_latent)
                nfes.append(res.nfe)
                oden = make("true")
                ores = strategy(algo, budget, T).run(oden, s, max_batch=max_batch, budget=budget)
                oracle.append(float(oden.true_score(ores.best_latent)[0]))
                oxs.append(ores.best_latent)
            a, h, o = stats(searched), stats(held), stats(oracle)
            rows["nfe"].append(sum(nfes) / len(nfes))
            rows["searched"].append(a["mean"])
            rows["searched_sem"].append(a["sem"])
            rows["held_out"].append(h["mean"])
            rows["held_out_sem"].append(h["sem"])
            rows["oracle_held_out"].append(o["mean"])
            rows["oracle_held_out_sem"].append(o["sem"])
            rows["diversity"].append(mean_pairwise_distance(torch.cat(xs)))
            rows["oracle_diversity"].append(mean_pairwise_distance(torch.cat(oxs)))
        i_peak = max(range(len(budgets)), key=lambda i: rows["held_out"][i])
        rows["held_out_peak_budget"] = budgets[i_peak]
        rows["held_out_drop_after_peak"] = rows["held_out"][i_peak] - rows["held_out"][-1]
        out["algorithms"][algo] = rows
    return out


def report(data: Dict, folder) -> None:
    budgets = data["budgets"]
    for algo, r in data["algorithms"].items():
        print(f"\n[hacking] {algo}: biased verifier searched, true score held out "
              f"({len(data['seeds'])} seeds; mean ± s.e.m.)")
        print_table(["budget NFE", "searched (biased)", "held-out true", "oracle true", "diversity", "oracle div."],
                    [[b, f"{r['searched'][i]:7.2f} ± {r['searched_sem'][i]:.2f}",
                      f"{r['held_out'][i]:7.2f} ± {r['held_out_sem'][i]:.2f}",
                      f"{r['oracle_held_out'][i]:7.2f} ± {r['oracle_held_out_sem'][i]:.2f}",
                      f"{r['diversity'][i]:.2f}", f"{r['oracle_diversity'][i]:.2f}"] for i, b in enumerate(budgets)])
        print(f"held-out peak at {r['held_out_peak_budget']} NFE; drop from peak to the largest budget: "
              f"{r['held_out_drop_after_peak']:.2f}")

    def band(m, s, algo):
        return {"x": budgets, "mean": m, "lo": [a - b for a, b in zip(m, s)], "hi": [a + b for a, b in zip(m, s)],
                "color": COLORS.get(algo, "k")}

    panels = [
        {"title": "searched verifier (biased)", "xlabel": "NFE per sample", "ylabel": "biased score",
         "series": {a: band(r["searched"], r["searched_sem"], a) for a, r in data["algorithms"].items()}},
        {"title": "held-out true score (dashed: oracle search)", "xlabel": "NFE per sample",
         "ylabel": "true log-density",
         "series": {**{a: band(r["held_out"], r["held_out_sem"], a) for a, r in data["algorithms"].items()},
                    **{f"{a} (oracle)": {**band(r["oracle_held_out"], r["oracle_held_out_sem"], a), "style": "--"}
                       for a, r in data["algorithms"].items()}}},
        {"title": "diversity of selected samples", "xlabel": "NFE per sample", "ylabel": "mean pairwise distance",
         "series": {**{a: {"x": budgets, "mean": r["diversity"], "color": COLORS.get(a, "k")} for a, r in data["algorithms"].items()},
                    **{f"{a} (oracle)": {"x": budgets, "mean": r["oracle_diversity"], "style": "--",
                                                  "color": COLORS.get(a, "k")}
                       for a, r in data["algorithms"].items()}}},
    ]
    plot_panels(folder / "hacking.png", panels, f"Verifier hacking on the analytic GMM (beta = {data['settings']['beta']})")


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
    write_json(folder / "hacking.json", data)
    print(f"\n[hacking] wrote {folder / 'hacking.json'} and {folder / 'hacking.png'} in {data['elapsed_s']} s")
    return data


if __name__ == "__main__":
    main()
