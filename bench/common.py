"""Shared helpers for the analytic benchmarks: paths, statistics, JSON, tables and plots."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the repo root
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

from search import ParticleSearch, PathsSearch, RandomSearch, ZeroOrderSearch  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "out"


def setup_torch() -> None:
    """One thread: results are bit-reproducible and the shared machine is not swamped."""
    torch.set_num_threads(1)


def out_dir(path: Optional[str]) -> Path:
    p = Path(path) if path else DEFAULT_OUT
    p.mkdir(parents=True, exist_ok=True)
    return p


def stats(values: Sequence[float]) -> Dict[str, float]:
    """mean, standard deviation, standard error of the mean, and quartiles."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    n = t.numel()
    std = float(t.std(unbiased=True)) if n > 1 else 0.0
    q = torch.quantile(t, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).tolist()
    return {"mean": float(t.mean()), "std": std, "sem": std / math.sqrt(n), "q25": q[0],
            "median": q[1], "q75": q[2], "n": n}


def mean_pairwise_distance(rows: torch.Tensor) -> float:
    rows = rows.reshape(rows.shape[0], -1).double()
    return float(torch.pdist(rows).mean()) if rows.shape[0] > 1 else 0.0


def strategy(name: str, budget: int, trajectory: int, zo_lam: float = 0.5):
    """The search used for one budget: settings large enough that the budget is what binds."""
    if name == "random":
        return RandomSearch(n=budget // trajectory)
    if name == "zero_order":
        return ZeroOrderSearch(n_neighbors=4, lam=zo_lam, iterations=budget // trajectory)
    if name == "paths":
        return PathsSearch(n=max(1, budget // trajectory), m=4, start=4, delta_f=2, delta_b=4)
    if name == "particles":  # as many particles as the budget allows; the defaults (chosen on the digits bed)
        return ParticleSearch(n=budget)
    raise KeyError(name)


def _finite(obj):
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"non-finite number in benchmark output: {obj}")
        return obj
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(_finite(data), indent=2))
    return path


def print_table(headers: List[str], rows: Iterable[Sequence]) -> str:
    rows = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    text = "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
    print(text)
    return text


def plot_panels(path: Path, panels: List[Dict], title: str) -> Path:
    """panels: [{"title", "xlabel", "ylabel", "series": {label: {"x", "mean", "lo", "hi", "style"?}}}];
    x on a log axis, a band from lo to hi."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, s in panel["series"].items():
            ln, = ax.plot(s["x"], s["mean"], s.get("style", "-o"), label=label, markersize=3,
                          **({"color": s["color"]} if "color" in s else {}))
            if "lo" in s:
                ax.fill_between(s["x"], s["lo"], s["hi"], color=ln.get_color(), alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_title(panel["title"])
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_cli(argv, name: str, doc: str, run, smoke, full, report) -> Dict:
    """The command line of an in-process bench: ``--smoke`` (``smoke`` settings, else ``full``) and
    ``--out``; ``run(settings)`` measures, ``report(data, folder)`` prints (and plots); the JSON goes to
    ``folder/NAME.json`` with the mode and the elapsed seconds."""
    import argparse
    import time
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    setup_torch()
    t0 = time.time()
    data = run(smoke if args.smoke else full)
    data["mode"] = "smoke" if args.smoke else "full"
    data["elapsed_s"] = round(time.time() - t0, 2)
    folder = out_dir(args.out)
    report(data, folder)
    write_json(folder / f"{name}.json", data)
    print(f"\n[{name}] wrote {folder / (name + '.json')} in {data['elapsed_s']} s")
    return data
