"""Overhead of the search node with one candidate against stock ComfyUI at equal NFE.

Three workflows on the same real server (tiny SD1.5-layout checkpoint, same seed, sampler, steps):

- ``ksampler``: KSampler → SaveLatent (the bare sampler);
- ``ksampler+decode``: KSampler → VAEDecode → PreviewImage (the fair baseline: our node also decodes
  the candidate with the VAE and saves a preview of it);
- ``search(N=1)``: NoiseSearchSampler, one candidate, a weight-free verifier (Sharpness, else Color
  Target) → SaveLatent.

Repeats are interleaved (A B C A B C …) with a fresh seed per round, so every node re-executes and
slow drifts of a shared machine hit all three alike; the ratio is the median of per-round ratios
(and the ratio of medians is reported too). Timing is server-side: the execution_start →
execution_success timestamps ComfyUI records for each prompt, and the CPU time the server process
spent meanwhile (psutil; the steadier figure on a CPU shared with other jobs).

The default resolution is 128² (latent 16²): the tiny UNet (one SD1.5 level: 320 channels, a res
block and a transformer block) already dominates there, and 256² costs 2–3 s per step on the
shared 2-core CPU, too slow for enough interleaved rounds inside run_all's budget (``--size 256``
works).

    .host/venv/bin/python bench/overhead.py [--repeats 15] [--size 128] [--steps 10] [--url URL] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402

TARGET = 1.03


def measure(host, size: int, steps: int, repeats: int, cfg: float = 3.0, sampler: str = "euler",
            verifier=None, ckpt: str = H.CKPT) -> dict:
    base = H.wf_base(size, size, ckpt=ckpt)
    verifier = verifier or H.verifier_node(host)
    kinds = {
        "ksampler": lambda s: H.wf_ksampler(base, s, steps, cfg, sampler),
        "ksampler+decode": lambda s: H.wf_ksampler(base, s, steps, cfg, sampler, decode=True),
        "search_n1": lambda s: H.wf_search(base, s, verifier, candidates=1, max_batch=1, steps=steps, cfg=cfg,
                                           sampler=sampler),
    }
    # warm-up: loads the checkpoint, encodes the prompts, first-call allocations
    for k, make in kinds.items():
        H.timed_run(host, make(10_000))
    times = {k: [] for k in kinds}
    cpu = {k: [] for k in kinds}
    nfe = None
    for r in range(repeats):
        order = list(kinds) if r % 2 == 0 else list(reversed(kinds))  # A B C, C B A, …
        for k in order:
            # a distinct seed per (round, workflow): ComfyUI caches node outputs by their inputs, so
            # the same KSampler seed in two workflows would run only once
            seed = 1 + r * len(kinds) + list(kinds).index(k)
            out, secs, cpu_s = H.timed_run_cpu(host, kinds[k](seed))
            times[k].append(secs)
            if cpu_s is not None:
                cpu[k].append(cpu_s)
            if k == "search_n1":
                rep = H.search_report(out)
                nfe = rep["totals"]["nfe"]
                assert rep["totals"]["verifier_calls"] == 1, rep["totals"]
    per_round = {
        "vs_ksampler": [s / k for s, k in zip(times["search_n1"], times["ksampler"])],
        "vs_ksampler_decode": [s / k for s, k in zip(times["search_n1"], times["ksampler+decode"])],
    }
    med = {k: H.median(v) for k, v in times.items()}
    cpu_ratio = {}
    if all(len(v) == repeats for v in cpu.values()):
        cpu_ratio = {
            "search_vs_ksampler": H.median([s / k for s, k in zip(cpu["search_n1"], cpu["ksampler"])]),
            "search_vs_ksampler_decode": H.median([s / k for s, k in zip(cpu["search_n1"], cpu["ksampler+decode"])]),
        }
    return {
        "settings": {"size": size, "latent": size // 8, "steps": steps, "cfg": cfg, "sampler": sampler,
                     "repeats": repeats, "verifier": verifier["class_type"], "search_nfe": nfe,
                     "ksampler_nfe": steps},
        "seconds": times,
        "median_seconds": med,
        "iqr_seconds": {k: H.iqr(v) for k, v in times.items()},
        "ratio": {  # median of per-round ratios (primary), ratio of medians (secondary)
            "search_vs_ksampler": H.median(per_round["vs_ksampler"]),
            "search_vs_ksampler_decode": H.median(per_round["vs_ksampler_decode"]),
            "search_vs_ksampler_of_medians": med["search_n1"] / med["ksampler"],
            "search_vs_ksampler_decode_of_medians": med["search_n1"] / med["ksampler+decode"],
        },
        "per_round_ratio": per_round,
        "cpu_seconds": cpu, "median_cpu_seconds": {k: H.median(v) for k, v in cpu.items() if v},
        "cpu_ratio": cpu_ratio,
        "target": TARGET,
    }


def plot(res: dict, path: Path):
    plt = H.plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = list(res["seconds"])
    ax.boxplot([res["seconds"][k] for k in names], tick_labels=names, orientation="horizontal")
    ax.set_xlabel("server-side seconds per prompt")
    s = res["settings"]
    ax.set_title(f"overhead at equal NFE ({s['size']}², {s['steps']} steps, {s['sampler']}): "
                 f"×{res['ratio']['search_vs_ksampler_decode']:.3f} vs KSampler+decode", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels (latent side = size / 8)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--url", default=None, help="an existing ComfyUI server (else one is started)")
    ap.add_argument("--smoke", action="store_true", help="tiny budget: 64², 3 steps, 2 repeats")
    a = ap.parse_args(argv)
    if a.smoke:
        a.size, a.steps, a.repeats = 64, 3, 2
    with H.comfy_server(url=a.url) as host:
        dev = H.host_device(host)
        res = measure(host, a.size, a.steps, a.repeats)
    res["machine"] = H.machine(dev)
    res["command"] = H.command_line()
    res["smoke"] = a.smoke
    name = "overhead_smoke" if a.smoke else "overhead"
    H.save_json(name, res)
    plot(res, H.out_dir() / f"{name}.png")
    m, r = res["median_seconds"], res["ratio"]
    mc, rc = res["median_cpu_seconds"], res["cpu_ratio"]
    nan = float("nan")
    rows = [["KSampler → SaveLatent", m["ksampler"], r["search_vs_ksampler"], r["search_vs_ksampler_of_medians"],
             mc.get("ksampler", nan), rc.get("search_vs_ksampler", nan)],
            ["KSampler → VAEDecode → PreviewImage", m["ksampler+decode"], r["search_vs_ksampler_decode"],
             r["search_vs_ksampler_decode_of_medians"], mc.get("ksampler+decode", nan),
             rc.get("search_vs_ksampler_decode", nan)],
            ["NoiseSearchSampler N=1 (" + res["settings"]["verifier"] + ")", m["search_n1"], 1.0, 1.0,
             mc.get("search_n1", nan), 1.0]]
    txt = H.table(rows, ["workflow", "median wall s", "search / this, wall (median of rounds)",
                         "wall, ratio of medians", "median server CPU s", "search / this, CPU (median of rounds)"])
    res["table"] = txt
    H.save_json(name, res)
    print(txt)
    return res, txt


if __name__ == "__main__":
    main()
