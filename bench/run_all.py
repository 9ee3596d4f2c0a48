"""Run every CPU benchmark, then refresh bench/README.md (figures, commands, machine) and the plots.

    .host/venv/bin/python bench/run_all.py            # full budgets (< 15 min on 2 shared CPU cores)
    .host/venv/bin/python bench/run_all.py --smoke    # tiny budgets (~1.5 min), into bench/out/smoke/,
                                                      # README untouched
    .host/venv/bin/python bench/run_all.py --only overhead batching

Each benchmark runs in its own process with the host's venv (``.host/venv/bin/python``), one after
the other (the timing benchmarks must not share the CPU with each other). A benchmark that fails
is reported and the others still run; the exit status is non-zero when any failed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402

#: name → (script, json written (full run), README title)
BENCHES = {
    "scaling": ("bench/scaling.py", "scaling.json", "Scaling: search vs more denoising steps (analytic model)"),
    "hacking": ("bench/hacking.py", "hacking.json", "Verifier hacking (analytic model)"),
    "verifier_cost": ("bench/verifier_cost.py", "verifier_cost.json", "Verifier cost in NFE-equivalents"),
    "overhead": ("bench/overhead.py", "overhead.json", "Overhead: search node (N=1) vs stock KSampler"),
    "batching": ("bench/batching.py", "batching.json", "Batching: max_batch=N vs one by one"),
    "memory": ("bench/memory.py", "memory.json", "Peak memory, model + verifier, offload on/off"),
}
ANALYTIC = ("scaling", "hacking")  # owned by bench/common.py's author: take --out, write <name>.json


def python() -> str:
    venv = H.REPO / ".host" / "venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_one(name: str, smoke: bool, out: Path):
    script, _, _ = BENCHES[name]
    cmd = [python(), script] + (["--smoke"] if smoke else [])
    if name in ANALYTIC:
        cmd += ["--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NOISE_SEARCH_BENCH_OUT": str(out), "MPLBACKEND": "Agg",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.time()
    p = subprocess.run(cmd, cwd=str(H.REPO), env=env, capture_output=True, text=True)
    secs = time.time() - t0
    shown = " ".join([".host/venv/bin/python", script] + cmd[2:]).replace(str(H.REPO) + "/", "")
    return {"name": name, "rc": p.returncode, "seconds": secs, "command": shown, "stdout": p.stdout[-8000:],
            "stderr": p.stderr[-4000:]}


def json_path(name: str, smoke: bool, out: Path) -> Path:
    base = BENCHES[name][1]
    if smoke and name not in ANALYTIC:
        return out / base.replace(".json", "_smoke.json")
    return out / base


def section(name: str, r: dict, smoke: bool, out: Path) -> str:
    _, _, title = BENCHES[name]
    jp = json_path(name, smoke, out)
    png = jp.with_suffix(".png")
    lines = [f"### {title}", "", f"Command: `{r['command']}` ({r['seconds']:.0f} s)", ""]
    if r["rc"] != 0:
        lines += ["**FAILED** (exit status %d):" % r["rc"], "", "```", r["stderr"][-1500:], "```"]
        return "\n".join(lines)
    data = json.loads(jp.read_text()) if jp.exists() else {}
    if "table" in data:
        lines += [data["table"]]
    else:  # the analytic benchmarks print their tables
        body = r["stdout"].strip().splitlines()
        lines += ["```", *[ln for ln in body if not ln.startswith("[")][-80:], "```"]
    if name == "overhead" and data:
        ra, s = data["ratio"], data["settings"]
        rc = data.get("cpu_ratio") or {}
        cpu_txt = (f"; by server CPU time **{rc['search_vs_ksampler_decode']:.3f}** and "
                   f"{rc['search_vs_ksampler']:.3f}" if rc else "")
        lines += ["", f"Search N=1 / KSampler+VAEDecode, server wall time = **{ra['search_vs_ksampler_decode']:.3f}**; "
                      f"/ bare KSampler = {ra['search_vs_ksampler']:.3f}{cpu_txt} (target ≤ {data['target']}; "
                      f"{s['size']}², {s['steps']} steps {s['sampler']}, {s['repeats']} interleaved rounds, "
                      f"median of per-round ratios; {s['verifier']} verifier). Wall time swings ±30 % here "
                      "(2 cores shared with other jobs); CPU time of the single-threaded server tracks the work "
                      "done and is the steadier figure."]
    if name == "batching" and data:
        lines += ["", "Speed-up = one-by-one time / batched time (median of interleaved rounds). On one CPU "
                      "thread batching can only save per-call overhead; the ≥ 2× target is for GPUs."]
    if png.exists():
        lines += ["", f"![{name}]({os.path.relpath(png, H.README.parent)})"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", nargs="+", choices=list(BENCHES), default=None)
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--readme-only", action="store_true",
                    help="rewrite bench/README.md from the last full run's JSON (bench/out/run_all.json); run nothing")
    a = ap.parse_args(argv)
    out = H.OUT / "smoke" if a.smoke else H.OUT
    out.mkdir(parents=True, exist_ok=True)
    if a.readme_only:
        last = json.loads((out / "run_all.json").read_text())
        results = {n: {"stderr": "", "stdout": "", **r} for n, r in last["benchmarks"].items()}
        write_readme(results, last["total_seconds"], last["machine"], list(results), False, out,
                     last.get("finished"))
        return 0
    names = a.only or list(BENCHES)
    t0 = time.time()
    results = {}
    for n in names:
        print(f"[run_all] {n} …", flush=True)
        r = run_one(n, a.smoke, out)
        results[n] = r
        status = "ok" if r["rc"] == 0 else f"FAILED ({r['rc']})"
        print(f"[run_all] {n}: {status} in {r['seconds']:.1f} s", flush=True)
        if r["rc"] != 0:
            print(r["stderr"][-3000:], file=sys.stderr)
    total = time.time() - t0
    summary = {"smoke": a.smoke, "total_seconds": total, "machine": H.machine(),
               "finished": time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
               "benchmarks": {n: {k: r[k] for k in ("rc", "seconds", "command", "stdout")} for n, r in results.items()},
               "json": {n: str(json_path(n, a.smoke, out)) for n in results}}
    (out / "run_all.json").write_text(json.dumps(summary, indent=1))
    print(f"[run_all] total {total:.1f} s; summary in {out / 'run_all.json'}")
    if not a.smoke and not a.no_readme:
        write_readme(results, total, summary["machine"], names if a.only else None, a.smoke, out,
                     summary["finished"])
    return 0 if all(r["rc"] == 0 for r in results.values()) else 1


def write_readme(results, total, m, only, smoke, out, finished):
    head = (f"Latest full run: `.host/venv/bin/python bench/run_all.py"
            f"{' --only ' + ' '.join(only) if only else ''}` — {total / 60:.1f} min on "
            f"{m['cpu']}, {m['cores']} cores (shared with other jobs), torch {m['torch']}, "
            f"ComfyUI {m.get('comfyui')}, Python {m['python']}; {finished}. No GPU on this machine: every "
            "timing below is CPU, one torch thread; the CUDA code paths exist but did not run.")
    H.update_readme_section("run", head)
    for n, r in results.items():
        H.update_readme_section(n, section(n, r, smoke, out))


if __name__ == "__main__":
    sys.exit(main())
