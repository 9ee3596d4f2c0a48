"""Peak memory of a search over paths: decoded intermediates kept (before) against released (after).

Until issue 10, every image the search decoded stayed cached as float32 for the whole search,
including the x0 predictions that search over paths scores at every hop and never looks at again.
Now the search releases them once scored (``search.decide.release`` → ``nodes/scoring.py``);
``NOISE_SEARCH_KEEP_DECODED=1`` restores the old cache, so one run measures both.

One fresh server per setting (tiny SD1.5-layout checkpoint, weight-free Brightness verifier, so the
decoded images are what differs), one search from the idle server (model loading included, the same
in both settings), while a thread samples the server's RSS (process and children) every 10 ms.
Reported: the peak RSS, the peak above the idle server, and the ratio after/before of each.

    .host/venv/bin/python bench/paths_memory.py [--size 256] [--steps 16] [--n 2] [--m 4] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402
from bench.memory import MB, Sampler  # noqa: E402

SETTINGS = {"before: every decoded image kept": {"NOISE_SEARCH_KEEP_DECODED": "1"},
            "after: intermediates released": {"NOISE_SEARCH_KEEP_DECODED": "0"}}


def paths_wf(a, seed):
    strategy = {"class_type": "NoiseSearchPaths", "inputs": {"n": a.n, "m": a.m, "start": 2, "delta_f": 1,
                                                             "delta_b": 2}}
    verifier = {"class_type": "NoiseSearchBrightness", "inputs": {"target": 0.5}}
    return H.wf_search(H.wf_base(a.size, a.size), seed, verifier, max_batch=a.n * a.m, steps=a.steps,
                       strategy=strategy)


def measure(env, a) -> dict:
    with tempfile.TemporaryDirectory(prefix="ns_pmem_") as tmp:
        with H.comfy_server(base=Path(tmp), env=env) as host:
            idle = Sampler(host, False, 0.01).read()[0]
            # no warm-up: a first search leaves freed memory in the allocator's pools, which would
            # hide the difference; the models load the same way in both settings
            s = Sampler(host, False, 0.01)
            s.start()
            out, t = H.timed_run(host, paths_wf(a, 2))
            peak = s.stop()
            rep = H.search_report(out)
    inter = sum(1 for c in rep["candidates"] if c["stage"] != "final")
    return {"env": env, "idle_mb": idle / MB, "peak_mb": peak / MB, "peak_above_idle_mb": (peak - idle) / MB,
            "seconds": t, "samples": s.samples, "nfe": rep["totals"]["nfe"], "scored": len(rep["candidates"]),
            "intermediates": inter, "image_mb": a.size * a.size * 3 * 4 / MB}


def plot(res, path):
    plt = H.plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    names = list(res["settings"])
    ax.barh(names, [res["settings"][k]["peak_above_idle_mb"] for k in names], color=["#c44", "#4a4"])
    ax.set_xlabel("peak RSS above the idle server, MiB")
    ax.set_title(f"search over paths N={res['n']} M={res['m']}, {res['size']}², {res['steps']} steps: "
                 f"after/before = {res['ratio_above_idle']:.2f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--smoke", action="store_true", help="tiny: 128², 6 steps")
    a = ap.parse_args(argv)
    if a.smoke:
        a.size, a.steps = 128, 6
    results = {name: measure(env, a) for name, env in SETTINGS.items()}
    before, after = results.values()
    res = {"settings": results, "size": a.size, "steps": a.steps, "n": a.n, "m": a.m, "measure": "server RSS",
           "ratio_peak": after["peak_mb"] / before["peak_mb"],
           "ratio_above_idle": after["peak_above_idle_mb"] / before["peak_above_idle_mb"],
           "machine": H.machine("cpu"), "command": H.command_line(), "smoke": a.smoke}
    name = "paths_memory_smoke" if a.smoke else "paths_memory"
    rows = [[k, v["intermediates"], v["idle_mb"], v["peak_mb"], v["peak_above_idle_mb"], v["seconds"]]
            for k, v in results.items()]
    res["table"] = H.table(rows, ["setting", "intermediate x0 scored", "idle MiB", "peak MiB",
                                  "peak above idle MiB", "search s"])
    H.save_json(name, res)
    plot(res, H.out_dir() / f"{name}.png")
    if not a.smoke:
        H.update_readme_section(name, f"""### Peak memory of search over paths: decoded intermediates kept vs released

Command: `{res['command']}` (CPU server, RSS sampled every 10 ms; N={a.n}, M={a.m}, {a.size}², {a.steps} steps,
Brightness verifier; "before" is `NOISE_SEARCH_KEEP_DECODED=1`, the cache as it was before issue 10)

{res['table']}

After/before: peak RSS {res['ratio_peak']:.3f}, peak above the idle server {res['ratio_above_idle']:.3f}.

![paths memory](out/{name}.png)""")
    print(res["table"])
    print(f"after/before: peak {res['ratio_peak']:.3f}, above idle {res['ratio_above_idle']:.3f}")
    return res


if __name__ == "__main__":
    main()
