"""Batched candidates against one-by-one, in the real host at equal NFE.

The same best-of-N search (NoiseSearchSampler, N candidates, a weight-free verifier) runs with
``max_batch = N`` (all candidates through the model together) and with ``max_batch = 1`` (one
candidate per model call, as a loop of KSamplers or the existing ComfyUI best-of-N packs do it).
Both report the same NFE; scores and winner are compared (on this CPU, batches above 4
change the last float bits of some scores — about 6e-8 — through batch-size-dependent kernels). Runs are interleaved (batched, one-by-one,
one-by-one, batched, …) with fresh seeds; the speed-up is the median of per-round ratios
(one-by-one time / batched time).

On a CPU with one torch thread (the host runs ``OMP_NUM_THREADS=1``) batching can only save
per-call overhead, so expect little; the ≥ 2× target is for GPUs, where a batch of latents fills
the device. On CUDA the same script runs unchanged against a GPU server (``--url``).

    .host/venv/bin/python bench/batching.py [--n 8] [--sizes 64 128] [--steps 5] [--repeats 3] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402

TARGET_GPU = 2.0


def measure(host, n: int, size: int, steps: int, repeats: int, cfg: float = 3.0, ckpt: str = H.CKPT,
            verifier=None) -> dict:
    base = H.wf_base(size, size, ckpt=ckpt)
    verifier = verifier or H.verifier_node(host)
    make = {mb: (lambda s, mb=mb: H.wf_search(base, s, verifier, candidates=n, max_batch=mb, steps=steps, cfg=cfg,
                                            prefix=f"b{mb}"))
            for mb in (n, 1)}
    for mb in make:  # warm-up at this size
        H.timed_run(host, make[mb](50_000 + mb))
    times = {mb: [] for mb in make}
    cpu = {mb: [] for mb in make}
    nfe = {}
    same = True
    diff = 0.0
    same_best = True
    for r in range(repeats):
        order = [n, 1] if r % 2 == 0 else [1, n]
        seed = 1000 * (r + 1)
        reports = {}
        for mb in order:
            # the same seed for both: different max_batch makes the node inputs differ, so no caching
            out, secs, cpu_s = H.timed_run_cpu(host, make[mb](seed))
            times[mb].append(secs)
            if cpu_s is not None:
                cpu[mb].append(cpu_s)
            reports[mb] = H.search_report(out)
            nfe[mb] = reports[mb]["totals"]["nfe"]
        sb, s1 = [c["score"] for c in reports[n]["candidates"]], [c["score"] for c in reports[1]["candidates"]]
        same &= sb == s1
        diff = max([diff] + [abs(x - y) for x, y in zip(sb, s1)])
        same_best &= reports[n]["best"].get("seed") == reports[1]["best"].get("seed")
    ratios = [one / b for one, b in zip(times[1], times[n])]
    return {"n": n, "size": size, "latent": size // 8, "steps": steps, "cfg": cfg, "repeats": repeats,
            "verifier": verifier["class_type"],
            "seconds": {"batched": times[n], "one_by_one": times[1]},
            "median_seconds": {"batched": H.median(times[n]), "one_by_one": H.median(times[1])},
            "nfe": {"batched": nfe[n], "one_by_one": nfe[1]}, "same_scores": bool(same),
            "max_score_diff": diff, "same_winner": bool(same_best),
            "speedup": H.median(ratios), "speedup_of_medians": H.median(times[1]) / H.median(times[n]),
            "per_round_speedup": ratios,
            "cpu_seconds": {"batched": cpu[n], "one_by_one": cpu[1]},
            "cpu_speedup": H.median([o / b for o, b in zip(cpu[1], cpu[n])]) if cpu[n] and cpu[1] else None}


def plot(res: dict, path: Path):
    plt = H.plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    rows = res["results"]
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["median_seconds"]["one_by_one"] for r in rows], 0.4, label="max_batch=1")
    ax.bar([x + 0.2 for x in xs], [r["median_seconds"]["batched"] for r in rows], 0.4, label="max_batch=N")
    ax.set_xticks(list(xs), [f"{r['size']}², N={r['n']}\n×{r['speedup']:.2f}" for r in rows])
    ax.set_ylabel("median server-side seconds")
    ax.set_title(f"batched vs one-by-one ({res['device']})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8, help="candidates")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="image sides in pixels")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--url", default=None, help="an existing ComfyUI server (else one is started)")
    ap.add_argument("--smoke", action="store_true", help="tiny budget: N=3, 64², 2 steps, 1 repeat")
    ap.add_argument("--row-exact", default="0", choices=["0", "1", "auto"],
                    help="NOISE_SEARCH_ROW_EXACT for the started server: 0 (default here) batches the model's "
                         "calls as on a GPU, which is what this measures; the node's CPU default (auto) runs "
                         "the model one candidate at a time for bit-identical results")
    a = ap.parse_args(argv)
    if a.smoke:
        a.n, a.sizes, a.steps, a.repeats = 3, [64], 2, 1
    with H.comfy_server(url=a.url, env={"NOISE_SEARCH_ROW_EXACT": a.row_exact}) as host:
        dev = H.host_device(host)
        results = [measure(host, a.n, s, a.steps, a.repeats) for s in a.sizes]
    res = {"results": results, "device": dev, "machine": H.machine(dev), "command": H.command_line(),
           "row_exact": a.row_exact,
           "smoke": a.smoke, "target_gpu": TARGET_GPU}
    name = "batching_smoke" if a.smoke else "batching"
    H.save_json(name, res)
    plot(res, H.out_dir() / f"{name}.png")
    rows = [[f"{r['size']}² (latent {r['latent']}²)", r["n"], r["steps"], r["nfe"]["batched"],
             r["median_seconds"]["one_by_one"], r["median_seconds"]["batched"], r["speedup"],
             r["cpu_speedup"] if r["cpu_speedup"] is not None else float("nan"),
             "identical" if r["same_scores"] else f"differ ≤ {r['max_score_diff']:.1e}",
             "yes" if r["same_winner"] else "NO"] for r in results]
    txt = H.table(rows, ["size", "N", "steps", "NFE (each)", "max_batch=1 wall s", "max_batch=N wall s",
                         "speed-up, wall (median of rounds)", "speed-up, server CPU time", "scores batched vs 1",
                         "same winner"])
    res["table"] = txt
    H.save_json(name, res)
    print(txt)
    return res, txt


if __name__ == "__main__":
    main()
