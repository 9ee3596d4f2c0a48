"""The paper's class-conditional experiment (Ma et al. 2025, §4) on the trained digits bed.

Every point is 100 searches a class (1,000 samples) for each of 3 run seeds; a point's figure is
the mean over the seeds, its error bar the standard error over the seeds. Metrics (the evaluation
classifier, trained on held-out half B; see digits_testbed/metrics.py): FID, IS, accuracy, spread,
k-NN precision / recall; plus the mean verifier score of the winners and their oracle score.

Sections (``--part``), on the large model with 8 Heun steps (15 NFE) unless said:
    random  random search with the "logit" and the "self_supervised" verifiers at k = 1 .. 16
            trajectories. Random search at k candidates is the first-k prefix of one 16-candidate run (the
            candidates of RandomSearch(n=k) are those of RandomSearch(n=16) cut at k; checked at
            start, up to float rounding: a row's result depends on the batch size at ~1e-6), so random has
            every k in 1..16 for the price of 16.
            Also: more denoising steps at the same NFE (no search); the small model + random
            search against the large model without, in FLOPs per sample; the undertrained
            snapshot of the large model with random logit search (where the FID minimum falls).
    strategies  zero-order, paths and particles (bench/common.py's settings for a budget) with
            both verifiers at 4x and 8x one trajectory, zero-order also at 2x (paths and particles
            fall back to best-of-2 there). Ordered so that a cut-off run keeps the 4x points.
Points are cached one JSON each in ``<out>/digits_points/`` (so two processes can run the two
parts and a cut-off run resumes); ``--report`` assembles ``digits.json`` and ``digits.png``.

    python bench/digits.py --part random &  python bench/digits.py --part strategies; wait
    python bench/digits.py --report
    python bench/digits.py --smoke          # tiny (a few samples a class, 1 seed), for a quick look
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

try:
    from bench.common import out_dir, print_table, setup_torch, stats, strategy, write_json
except ImportError:  # run as a script: bench/ is on sys.path, the repo root not yet
    from common import out_dir, print_table, setup_torch, stats, strategy, write_json  # type: ignore

import torch  # noqa: E402

from digits_testbed import Bed  # noqa: E402  (common put the repo root on sys.path)
from digits_testbed.data import CLASSES  # noqa: E402
from search import RandomSearch  # noqa: E402
from search.noise import noise_batch  # noqa: E402

STEPS = 8
FULL = {"per_class": 100, "seeds": 3, "random_max": 16, "mults": [4, 8, 2], "more_steps": [8, 15, 30, 60, 120]}
SMOKE = {"per_class": 5, "seeds": 1, "random_max": 4, "mults": [4], "more_steps": [8, 15]}
VERIFIERS = ("logit", "self_supervised")
STRATEGIES = ("zero_order", "paths", "particles")


def search_seed(run: int, c: int, i: int) -> int:
    return run * 10_000_000 + (c * 1000 + i) * 100


class Runner:
    def __init__(self, cfg: Dict, out: Path, max_batch: int = 64):
        self.cfg, self.max_batch = cfg, max_batch
        self.dir = out / "digits_points"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bed = Bed.load()

    def labels(self) -> torch.Tensor:
        return torch.arange(CLASSES).repeat_interleave(self.cfg["per_class"])

    def point(self, name: str, x: torch.Tensor, verifier: List[float], oracle: List[float], extra: Dict):
        m = self.bed.metrics(x, self.labels())
        m.update(verifier=sum(verifier) / len(verifier), oracle=sum(oracle) / len(oracle), **extra)
        (self.dir / f"{name}.json").write_text(json.dumps(m))
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}, flush=True)

    def done(self, name: str) -> bool:
        return (self.dir / f"{name}.json").exists()

    def random_prefix(self, model: str, verifier: str, run: int, kmax: int):
        """One k_max-candidate random search per sample; points for k = 1, 2, 4, ... k_max."""
        ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= kmax]
        names = {k: f"{model}-{verifier}-random-x{k}-run{run}" for k in ks}
        if all(self.done(n) for n in names.values()):
            return
        t0 = time.perf_counter()
        best = {k: ([], [], []) for k in ks}
        for c in range(CLASSES):
            den = self.bed.denoiser(model, c, STEPS, verifier)
            for i in range(self.cfg["per_class"]):
                r = RandomSearch(n=kmax).run(den, search_seed(run, c, i), max_batch=self.max_batch)
                for k in ks:
                    v = r.final_scores[:k]
                    b = v.index(max(v))
                    x = r.finals[b:b + 1]
                    best[k][0].append(x)
                    best[k][1].append(v[b])
                    best[k][2].append(float(den.true_score(x)))
        wall = time.perf_counter() - t0
        one = den.cost(0, den.last)
        for k in ks:
            xs, v, o = best[k]
            self.point(names[k], torch.cat(xs), v, o, {"nfe": k * one, "wall_s_all_k": wall,
                                                       "verifier_flops": self.verifier_flops(verifier) * k})

    def verifier_flops(self, verifier: str) -> int:
        from digits_testbed.nets import flops_per_nfe
        f = flops_per_nfe(self.bed.search_clf)
        return 2 * f if verifier == "self_supervised" else f

    def strategy_point(self, alg: str, verifier: str, mult: int, run: int, model: str = "large"):
        name = f"{model}-{verifier}-{alg}-x{mult}-run{run}"
        if self.done(name):
            return
        t0 = time.perf_counter()
        xs, v, o, nfe = [], [], [], 0
        for c in range(CLASSES):
            den = self.bed.denoiser(model, c, STEPS, verifier)
            one = den.cost(0, den.last)
            for i in range(self.cfg["per_class"]):
                r = strategy(alg, mult * one, one).run(den, search_seed(run, c, i), max_batch=self.max_batch,
                                                       budget=mult * one)
                xs.append(r.best_latent)
                v.append(r.best_score)
                o.append(float(den.true_score(r.best_latent)))
                nfe += r.nfe
        self.point(name, torch.cat(xs), v, o, {"nfe": nfe / len(xs), "budget_nfe": mult * one,
                                               "wall_s": time.perf_counter() - t0})

    def more_steps(self, steps: int, run: int):
        name = f"large-steps-s{steps}-run{run}"
        if self.done(name):
            return
        y = self.labels()
        seeds = [search_seed(run, int(c), i % self.cfg["per_class"]) for i, c in enumerate(y)]
        den = self.bed.denoiser("large", y, steps)
        x = den.sample(noise_batch(den.latent_shape, seeds), den.last, seeds)
        o = den.true_score(x).tolist()
        self.point(name, x, o, o, {"nfe": den.cost(0, den.last), "steps": steps})

    # ---- parts -------------------------------------------------------------------------------
    def check_prefix(self):
        den = self.bed.denoiser("large", 3, STEPS, "logit")
        full = RandomSearch(n=8).run(den, 77, max_batch=self.max_batch)
        cut = RandomSearch(n=3).run(den, 77, max_batch=self.max_batch)
        v = full.final_scores[:3]  # equal up to float rounding: the matmul kernel depends on the batch size
        assert v.index(max(v)) == cut.final_scores.index(cut.best_score), "random prefix != RandomSearch(n=k)"
        assert torch.allclose(full.finals[:3], cut.finals, atol=1e-4), "random prefix != RandomSearch(n=k)"

    def random_part(self):
        """Random search (all k from one run per sample), more steps, small and undertrained models."""
        self.check_prefix()
        runs = range(self.cfg["seeds"])
        for run in runs:
            self.random_prefix("large", "logit", run, self.cfg["random_max"])
        for steps in self.cfg["more_steps"]:
            for run in runs:
                self.more_steps(steps, run)
        for model in ("small", "large_undertrained"):
            for run in runs:
                self.random_prefix(model, "logit", run, self.cfg["random_max"])
        for model in ("large", "small"):
            for run in runs:
                self.random_prefix(model, "self_supervised", run, self.cfg["random_max"])

    def strategies_part(self, mults=None, verifiers=VERIFIERS, algs=STRATEGIES):
        """Zero-order, paths and particles; most informative points first (a cut-off run keeps them)."""
        for mult in mults or self.cfg["mults"]:
            for verifier in verifiers:
                for alg in algs:
                    if mult == 2 and alg != "zero_order":
                        continue  # paths and particles fall back to best-of-2 (= random x2) at 2x
                    for run in range(self.cfg["seeds"]):
                        self.strategy_point(alg, verifier, mult, run)


# ---- report -----------------------------------------------------------------------------------
METRICS = ("fid", "is", "accuracy", "spread", "precision", "recall", "verifier", "oracle", "nfe")


def collect(points: Path) -> Dict[str, Dict]:
    """{series: {x: {metric: stats over runs}}} from the cached points."""
    groups: Dict[str, Dict[str, List[Dict]]] = {}
    for f in sorted(points.glob("*.json")):
        stem, run = f.stem.rsplit("-run", 1)
        series, x = stem.rsplit("-", 1)
        groups.setdefault(series, {}).setdefault(x, []).append(json.loads(f.read_text()))
    out = {}
    for series, xs in groups.items():
        out[series] = {}
        for x, runs in xs.items():
            out[series][x] = {m: stats([r[m] for r in runs]) for m in METRICS if m in runs[0]}
            out[series][x]["runs"] = len(runs)
            for extra in ("wall_s", "wall_s_all_k", "verifier_flops", "steps"):
                if extra in runs[0]:
                    out[series][x][extra] = runs[0][extra]
    return out


def curve(series: Dict, metric: str):
    rows = sorted(series.values(), key=lambda p: p["nfe"]["mean"])
    return ([p["nfe"]["mean"] for p in rows], [p[metric]["mean"] for p in rows], [p[metric]["sem"] for p in rows])


def with_base(data: Dict, name: str, base: str) -> Dict:
    """A strategy's series with the 1x point (plain sampling = random's first candidate) added."""
    s = dict(data.get(name, {}))
    if base in data and "x1" in data[base]:
        s.setdefault("x1", data[base]["x1"])
    return s


def report(out: Path, flops: Dict[str, int]) -> Dict:
    data = collect(out / "digits_points")
    write_json(out / "digits.json", {"steps": STEPS, "flops_per_nfe": flops, "series": data})
    rows = []
    for series in sorted(data):
        for x, p in sorted(data[series].items(), key=lambda kv: kv[1]["nfe"]["mean"]):
            rows.append([series, x, p["runs"], f"{p['nfe']['mean']:.0f}"]
                        + [f"{p[m]['mean']:.3f}±{p[m]['sem']:.3f}" for m in METRICS[:-1]])
    table = print_table(["series", "x", "runs", "nfe"] + list(METRICS[:-1]), rows)
    (out / "digits_table.txt").write_text(table + "\n")
    plot(out / "digits.png", data, flops)
    return data


def plot(path: Path, data: Dict, flops: Dict[str, int]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metrics = ("fid", "is", "recall", "spread")
    fig, axes = plt.subplots(3, 4, figsize=(18, 12))
    for row, verifier in enumerate(VERIFIERS):
        for col, m in enumerate(metrics):
            ax = axes[row, col]
            base = f"large-{verifier}-random"
            for alg in ("random",) + STRATEGIES:
                s = with_base(data, f"large-{verifier}-{alg}", base)
                if s:
                    ax.errorbar(*curve(s, m), marker="o", capsize=3, label=alg)
            if "large-steps" in data:
                ax.errorbar(*curve(data["large-steps"], m), marker="s", ls="--", color="k", capsize=3,
                            label="more steps (no search)")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("NFE per sample")
            ax.set_title(f"{m} — verifier {verifier}")
            if col == 0:
                ax.legend(fontsize=8)
    # (d) small + search vs large without, in FLOPs per sample (model + verifier)
    for col, m in enumerate(("fid", "is")):
        ax = axes[2, col]
        for series, model in (("small-logit-random", "small"), ("small-self_supervised-random", "small"),
                              ("large-logit-random", "large"), ("large-self_supervised-random", "large")):
            if series not in data:
                continue
            pts = sorted(data[series].values(), key=lambda p: p["nfe"]["mean"])
            x = [(p["nfe"]["mean"] * flops[model] + p.get("verifier_flops", 0)) / 1e6 for p in pts]
            ax.errorbar(x, [p[m]["mean"] for p in pts], [p[m]["sem"] for p in pts], marker="o", capsize=3,
                        label=series.replace("-random", " + random"))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("MFLOPs per sample (model + verifier)")
        ax.set_title(f"{m}: small + search vs large")
        ax.legend(fontsize=8)
    # where the FID minimum falls: undertrained vs trained, random logit search
    for col, m in ((2, "fid"), (3, "recall")):
        ax = axes[2, col]
        for series in ("large_undertrained-logit-random", "large-logit-random", "small-logit-random"):
            if series in data:
                ax.errorbar(*curve(data[series], m), marker="o", capsize=3, label=series)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log" if m == "fid" else "linear")
        ax.set_xlabel("NFE per sample")
        ax.set_title(f"{m}: random logit search by model quality")
        ax.legend(fontsize=8)
    fig.suptitle("digits bed: class-conditional search (mean ± s.e. over 3 seeds, 1,000 samples each)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("random", "strategies", "all"), default=None)
    ap.add_argument("--mults", type=int, nargs="*", help="strategies part: these multiples only")
    ap.add_argument("--verifiers", nargs="*", default=list(VERIFIERS), help="strategies part: these verifiers only")
    ap.add_argument("--algs", nargs="*", default=list(STRATEGIES), help="strategies part: these strategies, in order")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    setup_torch()
    cfg = SMOKE if a.smoke else FULL
    out = out_dir(a.out if a.out else (str(Path(__file__).resolve().parent / "out" / "smoke") if a.smoke else None))
    runner = Runner(cfg, out)
    part = a.part or ("all" if a.smoke or not a.report else None)
    t0 = time.perf_counter()
    if part in ("random", "all"):
        runner.random_part()
    if part in ("strategies", "all"):
        runner.strategies_part(a.mults, a.verifiers, a.algs)
    if part:
        print(f"part {part}: {time.perf_counter() - t0:.0f} s wall", flush=True)
    if a.report or a.smoke or part == "all":
        report(out, {k: runner.bed.flops_per_nfe(k) for k in runner.bed.nets})


if __name__ == "__main__":
    main()
