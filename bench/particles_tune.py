"""Particle search defaults, chosen on the trained digits bed (digits_testbed, model "large", verifier
"logit": the search classifier) and judged by its held-out oracle (the evaluation classifier's logit,
trained on the other half of the data). Grid over λ (scale-free: in standard deviations of the
potential), resampling interval and potential; each setting is scored by its mean oracle score over
classes x seeds at two budgets, minus best-of-N's at the same NFE and seeds. The winner becomes the
defaults of search/particles.py and the node; bench/particles_travel.py then shows them on beds
they were not chosen on. Writes bench/out/particles_tune.json and prints the table.

    python bench/particles_tune.py           # full grid (~5 min on one CPU thread)
    python bench/particles_tune.py --smoke   # two settings, for tests
"""
from __future__ import annotations

import itertools
from typing import Dict, List, Optional

try:
    from bench.common import print_table, run_cli, stats
except ImportError:  # run as a script
    from common import print_table, run_cli, stats  # type: ignore

from search import ParticleSearch, RandomSearch  # noqa: E402

STEPS, MODEL, VERIFIER = 8, "large", "logit"
FULL = {"lams": [0.5, 1.0, 2.0, 4.0, 8.0], "every": [2, 3, 4], "potentials": ["max", "difference", "sum"],
        "mults": [4, 16], "classes": list(range(10)), "seeds": [101, 202, 303, 404]}
#: smoke: the reduced bed (the CI's, trained in seconds), two settings
SMOKE = {"lams": [1.0], "every": [3], "potentials": ["max", "difference"], "mults": [4], "classes": [3],
         "seeds": [101], "reduced": True}


def oracle(bed, strategy, y: int, seed: int, budget: int) -> float:
    den = bed.denoiser(next(iter(bed.nets)) if MODEL not in bed.nets else MODEL, y=y, steps=STEPS, verifier=VERIFIER)
    res = strategy.run(den, seed, max_batch=64, budget=budget)
    assert res.nfe <= budget
    return float(den.true_score(res.best_latent)[0])


def run(mode: Dict) -> Dict:
    from digits_testbed import Bed
    bed = Bed.load(reduced=bool(mode.get("reduced")))
    T = bed.denoiser(next(iter(bed.nets)), steps=STEPS).cost(0, STEPS)
    cells = [(y, s) for y in mode["classes"] for s in mode["seeds"]]
    out = {"benchmark": "particles_tune", "bed": f"digits_testbed {MODEL}, verifier {VERIFIER}, judged by the oracle",
           "steps": STEPS, "trajectory_nfe": T, "budgets": [m * T for m in mode["mults"]], "cells": len(cells),
           "classes": mode["classes"], "seeds": mode["seeds"], "best_of_n": {}, "settings": []}
    base = {}
    for m in mode["mults"]:
        b = m * T
        base[b] = [oracle(bed, RandomSearch(n=m), y, s, b) for y, s in cells]
        out["best_of_n"][str(b)] = stats(base[b])
    for lam, every, pot in itertools.product(mode["lams"], mode["every"], mode["potentials"]):
        row = {"lam": lam, "resample_every": every, "potential": pot, "budgets": {}}
        gains = []
        for m in mode["mults"]:
            b = m * T
            ps = ParticleSearch(n=10_000, resample_every=every, potential=pot, lam=lam)
            sc = [oracle(bed, ps, y, s, b) for y, s in cells]
            d = [p - q for p, q in zip(sc, base[b])]
            row["budgets"][str(b)] = {"score": stats(sc), "gain": stats(d)}
            gains.append(stats(d)["mean"])
        row["mean_gain"] = sum(gains) / len(gains)
        out["settings"].append(row)
        print(f"λ={lam:<4} every={every} {pot:<10} gain " + "  ".join(f"{g:+.3f}" for g in gains), flush=True)
    best = max(out["settings"], key=lambda r: r["mean_gain"])
    out["chosen"] = {k: best[k] for k in ("lam", "resample_every", "potential")}
    return out


def report(data: Dict) -> None:
    bs = data["budgets"]
    rows = []
    for r in sorted(data["settings"], key=lambda r: -r["mean_gain"]):
        rows.append([r["lam"], r["resample_every"], r["potential"]]
                    + [f"{r['budgets'][str(b)]['gain']['mean']:+.3f} ± {r['budgets'][str(b)]['gain']['sem']:.3f}"
                       for b in bs] + [f"{r['mean_gain']:+.3f}"])
    print(f"\n[particles_tune] oracle-score gain over best-of-N at equal NFE ({data['cells']} class x seed cells)")
    print_table(["λ", "every", "potential"] + [f"{b} NFE" for b in bs] + ["mean"], rows)
    print(f"chosen: {data['chosen']}")


def main(argv: Optional[List[str]] = None) -> Dict:
    return run_cli(argv, "particles_tune", __doc__, run, SMOKE, FULL, lambda data, folder: report(data))


if __name__ == "__main__":
    main()
