"""Particle search with its defaults (chosen on the trained digits bed, bench/particles_tune.py)
against best-of-N (random search) at equal NFE, on three beds:

    digits   the trained digits model (digits_testbed, "large", verifier "logit", judged by the
             held-out oracle); 10 classes x 4 run seeds that the tuning did not use
    analytic the analytic mixture of tests/analytic.py (four modes; ve / Euler, mean_shift 0.25,
             verifier and judge the true log-density under the rare target), 48 seeds
    uneven   a mixture of different geometry (tests.analytic.uneven_mixture: five modes of unequal
             weight and spread, the rare narrow target covered by a broad dominant mode), same set-up

The defaults were not chosen on either mixture. Per bed and budget: mean score of the selected
sample ± standard error over seeds for both, and the paired difference (particles - best-of-N)
± its standard error, with wins / losses. Writes bench/out/particles_travel.json and .png.

    python bench/particles_travel.py           # full (~3 min on one CPU thread)
    python bench/particles_travel.py --smoke   # tiny, for tests
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

try:
    from bench.common import plot_panels, print_table, run_cli, stats
except ImportError:  # run as a script
    from common import plot_panels, print_table, run_cli, stats  # type: ignore

from search import ParticleSearch, RandomSearch  # noqa: E402
from tests.analytic import AnalyticDenoiser, uneven_mixture  # noqa: E402

FULL = {"mults": [4, 8, 16, 32], "mixture_seeds": 48, "digits_classes": list(range(10)),
        "digits_seeds": [11, 22, 33, 44]}
#: smoke: the reduced digits bed (the CI's, trained in seconds)
SMOKE = {"mults": [4], "mixture_seeds": 3, "digits_classes": [3], "digits_seeds": [11], "reduced": True}


def beds(mode: Dict) -> Dict[str, Dict]:
    """name -> {"make": cell -> Denoiser, "cells": [(cell, seed)], "judge": what the score is}."""
    out = {}
    seeds = [7919 * i + 11 for i in range(mode["mixture_seeds"])]
    out["analytic"] = {"make": lambda c: AnalyticDenoiser("ve", steps=10, solver="euler", mean_shift=0.25),
                       "cells": [(None, s) for s in seeds], "judge": "true log-density under the target"}
    out["uneven"] = {"make": lambda c: AnalyticDenoiser("ve", steps=10, solver="euler", mean_shift=0.25,
                                                        mixture=uneven_mixture()),
                     "cells": [(None, s) for s in seeds], "judge": "true log-density under the target"}
    try:
        from digits_testbed import Bed
    except ImportError:  # the trained bed is not in this checkout
        return out
    bed = Bed.load(reduced=bool(mode.get("reduced")))
    model = "large" if "large" in bed.nets else next(iter(bed.nets))
    out["digits"] = {"make": lambda y: bed.denoiser(model, y=y, steps=8, verifier="logit"),
                     "cells": [(y, s) for y in mode["digits_classes"] for s in mode["digits_seeds"]],
                     "judge": "oracle logit (evaluation classifier, held-out half)"}
    return out


def score(make: Callable, cell, seed: int, strategy, budget: int) -> float:
    den = make(cell)
    res = strategy.run(den, seed, max_batch=64, budget=budget)
    assert res.nfe <= budget
    return float(den.true_score(res.best_latent)[0])


def run(mode: Dict) -> Dict:
    d = ParticleSearch()
    out = {"benchmark": "particles_travel",
           "defaults": {"lam": d.lam, "resample_every": d.resample_every, "potential": d.potential,
                        "ess_threshold": d.ess_min, "renoise_steps": d.renoise_steps},
           "beds": {}}
    for name, bed in beds(mode).items():
        T = bed["make"](bed["cells"][0][0]).cost(0, bed["make"](bed["cells"][0][0]).last)
        rows = {"budgets": [], "particles": [], "best_of_n": [], "diff": [], "wins": [], "losses": [],
                "particles_n": []}
        for m in mode["mults"]:
            b = m * T
            ps = ParticleSearch(n=10_000)
            p = [score(bed["make"], c, s, ps, b) for c, s in bed["cells"]]
            r = [score(bed["make"], c, s, RandomSearch(n=m), b) for c, s in bed["cells"]]
            diff = [x - y for x, y in zip(p, r)]
            rows["budgets"].append(b)
            rows["particles"].append(stats(p))
            rows["best_of_n"].append(stats(r))
            rows["diff"].append(stats(diff))
            rows["wins"].append(sum(x > 0 for x in diff))
            rows["losses"].append(sum(x < 0 for x in diff))
            rows["particles_n"].append(ps.fit(bed["make"](bed["cells"][0][0]), b)[0])
        out["beds"][name] = {"trajectory_nfe": T, "runs": len(bed["cells"]), "judge": bed["judge"], **rows}
    return out


def report(data: Dict, folder) -> None:
    panels = []
    for name, bed in data["beds"].items():
        table = []
        for i, b in enumerate(bed["budgets"]):
            p, r, d = bed["particles"][i], bed["best_of_n"][i], bed["diff"][i]
            table.append([b, bed["particles_n"][i], f"{p['mean']:.3f} ± {p['sem']:.3f}",
                          f"{r['mean']:.3f} ± {r['sem']:.3f}", f"{d['mean']:+.3f} ± {d['sem']:.3f}",
                          f"{bed['wins'][i]}/{bed['losses'][i]}"])
        print(f"\n[particles_travel] {name} (T = {bed['trajectory_nfe']} NFE, {bed['runs']} runs; {bed['judge']})")
        print_table(["budget NFE", "particles", "particle search", "best-of-N", "difference", "wins/losses"], table)
        series = {}
        for key, label in (("particles", "particle search (defaults)"), ("best_of_n", "best-of-N")):
            m = [s["mean"] for s in bed[key]]
            e = [s["sem"] for s in bed[key]]
            series[label] = {"x": bed["budgets"], "mean": m, "lo": [a - s for a, s in zip(m, e)],
                             "hi": [a + s for a, s in zip(m, e)]}
        panels.append({"title": f"{name} (T = {bed['trajectory_nfe']} NFE, {bed['runs']} runs)",
                       "xlabel": "NFE (budget)", "ylabel": "score of the selected sample", "series": series})
    plot_panels(folder / "particles_travel.png", panels,
                f"Particle search defaults {data['defaults']['potential']}, λ={data['defaults']['lam']}, "
                f"every {data['defaults']['resample_every']} vs best-of-N (± s.e.m.)")


def main(argv: Optional[List[str]] = None) -> Dict:
    return run_cli(argv, "particles_travel", __doc__, run, SMOKE, FULL, report)


if __name__ == "__main__":
    main()
