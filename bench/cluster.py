"""The cluster room (``cluster/``, Ray) measured: 1 vs 2 servers, and the per-task overhead of going
through Ray and HTTP.

One embedded Ray instance (127.0.0.1) with two CPU ComfyUI servers on the tiny checkpoint
(``main.py --cpu``, one torch thread each), warmed up once. Then, interleaved round by round:

- **overhead**: the same small task (a search with one candidate) three ways on server 0:
  ``server`` = its execution time inside ComfyUI (execution_start -> execution_success);
  ``http`` = POST /prompt, poll /history, GET /view of the image, from this process (no Ray);
  ``ray`` = the same through a Ray actor (``cluster.workers.run``: submit, the actor's HTTP, the
  image back through Ray's object store). Overhead = wall - server time, per task.
- **one search of N candidates**: ``cluster.jobs.sharded_search`` on one server (one shard) vs two
  servers (two seed ranges); the merged result is checked equal to the single one.
- **a prompt set** of P prompts (N candidates each): ``cluster.jobs.run_tasks`` on one vs two servers.

Two servers on this machine share its 2 cores with each other, with Ray and with whatever else runs,
so the speed-up measured here is what 2 shared cores allow, not what 2 GPUs give. The projection
for K GPUs (printed and saved) is arithmetic on the measured overhead, not a measurement.

    .host/venv/bin/python bench/cluster.py [--rounds 3] [--candidates 16] [--prompts 8] [--size 64] [--steps 4]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402
from cluster import jobs as J, tasks as T, workers as Wk  # noqa: E402


def search_wf(seed, n, size, steps, prompt="a red apple on a table"):
    wf = H.wf_base(size, size, prompt=prompt)
    wf["verifier"] = {"class_type": "NoiseSearchColorTarget", "inputs": {"color": "#c03030"}}
    wf["search"] = {"class_type": "NoiseSearchSampler", "inputs": {
        "model": ["ckpt", 0], "seed": seed, "steps": steps, "cfg": 3.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
        "denoise": 1.0, "vae": ["ckpt", 2], "verifier": ["verifier", 0], "candidates": n, "max_batch": 4,
        "budget_nfe": 0, "rerender_winner": False}}
    return wf


def subpool(pool, k):
    return Wk.Pool(pool.handles[:k], pool.names[:k], pool.ray, False, pool.infos[:k])


def overhead_round(pool, seed, size, steps):
    from scripts.host import ComfyHost
    wf = search_wf(seed, 1, size, steps)
    T.add_winner_save(wf, f"ov{seed}")
    # through Ray
    got = []
    t0 = time.perf_counter()
    Wk.run(subpool(pool, 1), [{"key": "ov", "workflow": wf, "fetch": [T.SAVE_NODE]}], got.append)
    ray_wall = time.perf_counter() - t0
    ray_server = got[0]["server_seconds"]
    # direct HTTP from here, to the same server (another seed, so nothing is cached)
    wf2 = search_wf(seed + 1, 1, size, steps)
    T.add_winner_save(wf2, f"ov{seed + 1}")
    host = ComfyHost.attach(pool.infos[0]["url"])
    t0 = time.perf_counter()
    entry = host.wait(host.queue(wf2), poll=Wk.POLL_S)
    host.view(entry["outputs"][T.SAVE_NODE]["images"][0])
    http_wall = time.perf_counter() - t0
    ts = {k: d.get("timestamp") for k, d in entry["status"]["messages"]}
    http_server = (ts["execution_success"] - ts["execution_start"]) / 1000.0
    return {"ray_wall": ray_wall, "ray_server": ray_server, "ray_overhead": ray_wall - ray_server,
            "http_wall": http_wall, "http_server": http_server, "http_overhead": http_wall - http_server}


def project(overhead_s: float, per_candidate_s: float, task_s: float, ks=(1, 2, 4, 8)):
    """Arithmetic from the measured overhead: against one server driven directly (no Ray, no
    overhead), K servers each paying ``overhead_s`` per task (shard), the work split evenly in whole
    candidates / whole tasks. Model loading (once per server) is left out."""
    out = {"search64": {}, "drawbench": {}}
    tasks = 200 * 4  # DrawBench: 200 prompts x 4 configurations
    for k in ks:
        direct = 64 * per_candidate_s
        kk = overhead_s + math.ceil(64 / k) * per_candidate_s
        out["search64"][k] = {"seconds": kk, "direct_one_server_s": direct, "speedup": direct / kk}
        direct = tasks * task_s
        kk = math.ceil(tasks / k) * (task_s + overhead_s)
        out["drawbench"][k] = {"seconds": kk, "direct_one_server_s": direct, "speedup": direct / kk}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--prompt-candidates", type=int, default=4)
    ap.add_argument("--overhead-tasks", type=int, default=6)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--no-readme", action="store_true")
    a = ap.parse_args(argv)
    from scripts.host import COMFY, VENV_PY, prepare_base_dir
    tmp = tempfile.TemporaryDirectory(prefix="ns_bench_cluster_")
    base = prepare_base_dir(Path(tmp.name) / "base")
    t_start = time.perf_counter()
    ray = Wk.start_ray(None, num_cpus=2, num_gpus=0)
    t_ray = time.perf_counter() - t_start
    pool = Wk.make_workers(ray, servers=2, spec={"base_dir": str(base), "comfy": str(COMFY), "python": str(VENV_PY),
                                                 "cpu": True, "state_root": tmp.name}, own_ray=True)
    t_up = time.perf_counter() - t_start
    res = {"overhead": [], "search": {"1": [], "2": []}, "prompts": {"1": [], "2": []}, "same_result": True}
    try:
        for k in (1, 2):  # warm-up: every server loads the model once
            J.sharded_search(subpool(pool, 2), search_wf(1, 2, a.size, a.steps), shards=2, quiet=True)
        for i in range(a.overhead_tasks):
            res["overhead"].append(overhead_round(pool, 1000 + 10 * i, a.size, a.steps))
        for r in range(a.rounds):
            wf = search_wf(2000 + 100 * r, a.candidates, a.size, a.steps)
            reps = {}
            for k in ((1, 2) if r % 2 == 0 else (2, 1)):
                out = J.sharded_search(subpool(pool, k), wf, shards=k, quiet=True)
                res["search"][str(k)].append(out["seconds"])
                reps[k] = out["report"]
            same = [c["score"] for c in reps[1]["candidates"]] == [c["score"] for c in reps[2]["candidates"]] \
                and reps[1]["best"]["seed"] == reps[2]["best"]["seed"]
            res["same_result"] = res["same_result"] and same
            prompts = [{"prompt": f"prompt {r} {i}"} for i in range(a.prompts)]
            tasks = T.make_tasks(search_wf(3000 + r, a.prompt_candidates, a.size, a.steps), prompts, [{}])
            for k in ((2, 1) if r % 2 == 0 else (1, 2)):
                with tempfile.TemporaryDirectory() as d:
                    out = J.run_tasks(subpool(pool, k), tasks, Path(d), quiet=True)
                    assert all(row["status"] == "ok" for row in out["rows"])
                    res["prompts"][str(k)].append(out["seconds"])
    finally:
        pool.close()
        tmp.cleanup()
    data = {
        "settings": {"rounds": a.rounds, "candidates": a.candidates, "prompts": a.prompts,
                     "prompt_candidates": a.prompt_candidates, "size": a.size, "steps": a.steps,
                     "overhead_tasks": a.overhead_tasks, "poll_s": Wk.POLL_S},
        "startup_s": {"ray": t_ray, "ray_and_two_servers": t_up},
        "overhead_rounds": res["overhead"], "search_rounds": res["search"], "prompt_rounds": res["prompts"],
        "same_result": res["same_result"], "load_average": list(os.getloadavg()),
        "command": H.command_line(), "machine": H.machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    return render(data, readme=not a.no_readme)


def render(data, readme=True):
    """Medians, the projection, JSON, PNG and the README section, from the measured rounds."""
    st = data["settings"]
    ov = data["overhead_rounds"]
    med = {k: H.median([o[k] for o in ov]) for k in ov[0]}
    s1, s2 = H.median(data["search_rounds"]["1"]), H.median(data["search_rounds"]["2"])
    p1, p2 = H.median(data["prompt_rounds"]["1"]), H.median(data["prompt_rounds"]["2"])
    o = med["ray_overhead"]
    per_cand = (s1 - o) / st["candidates"]
    task_s = p1 / st["prompts"] - o
    data.update({
        "overhead_s": med,
        "search_s": {"one_server": s1, "two_servers": s2, "speedup": s1 / s2},
        "prompt_set_s": {"one_server": p1, "two_servers": p2, "speedup": p1 / p2},
        "projection": {"note": "arithmetic, not measured: against one server driven directly, K servers each "
                               "paying the measured Ray+HTTP overhead per task; compute per candidate / task as "
                               "named; model loading left out",
                       "gpu_0.25s_per_candidate": project(o, 0.25, 4 * 0.25),
                       "gpu_1s_per_candidate": project(o, 1.0, 4 * 1.0),
                       "cpu_here": project(o, per_cand, task_s),
                       "per_candidate_s_here": per_cand, "task_s_here": task_s},
    })
    t_ray, t_up = data["startup_s"]["ray"], data["startup_s"]["ray_and_two_servers"]
    path = H.save_json("cluster", data)
    plt = H.plt()
    fig, (x, y) = plt.subplots(1, 2, figsize=(10, 3.6))
    x.bar(["server", "http", "ray"], [med["http_server"], med["http_wall"], med["ray_wall"]],
          color=["tab:gray", "tab:blue", "tab:orange"])
    x.set_ylabel("s per task (median)")
    x.set_title(f"one task (N=1, {st['size']}², {st['steps']} steps)")
    labels = [f"search N={st['candidates']}", f"{st['prompts']} prompts × N={st['prompt_candidates']}"]
    import numpy as np
    pos = np.arange(2)
    y.bar(pos - 0.2, [s1, p1], 0.4, label="1 server")
    y.bar(pos + 0.2, [s2, p2], 0.4, label="2 servers")
    y.set_xticks(pos, labels)
    y.set_ylabel("wall s (median)")
    y.set_title(f"2 shared CPU cores: ×{s1 / s2:.2f} / ×{p1 / p2:.2f}")
    y.legend()
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    plt.close(fig)
    rows = [["Ray startup (embedded, no dashboard)", t_ray, "-"],
            ["Ray + two CPU servers ready", t_up, "-"],
            ["one task: ComfyUI execution (server)", med["http_server"], "-"],
            ["one task: direct HTTP wall (queue, poll, /view)", med["http_wall"], med["http_overhead"]],
            ["one task: through a Ray actor", med["ray_wall"], med["ray_overhead"]]]
    t1 = H.table(rows, ["what", "seconds (median)", "per-task overhead over the server's time (median)"])
    t2 = H.table([[labels[0], s1, s2, s1 / s2], [labels[1], p1, p2, p1 / p2]],
                 ["job", "1 server (s)", "2 servers (s)", "speed-up"])
    pr = data["projection"]
    t3 = H.table([[k, pr["gpu_0.25s_per_candidate"]["search64"][k]["speedup"],
                   pr["gpu_1s_per_candidate"]["search64"][k]["speedup"],
                   pr["gpu_0.25s_per_candidate"]["drawbench"][k]["speedup"],
                   pr["gpu_1s_per_candidate"]["drawbench"][k]["speedup"]] for k in (1, 2, 4, 8)],
                 ["K GPUs", "64-candidate search, 0.25 s/candidate", "same, 1 s/candidate",
                  "DrawBench 200×4 tasks of N=4, 0.25 s/candidate", "same, 1 s/candidate"])
    print(t1 + "\n\n" + t2 + "\n\nprojection (arithmetic, speed-up over one server driven directly):\n" + t3)
    print(f"same merged result on 1 and 2 servers: {data['same_result']}; {path}")
    if readme:
        m = data["machine"]
        H.update_readme_section("cluster", f"""### Cluster: 1 vs 2 servers, Ray + HTTP overhead per task

`{data['command']}` on {m['cpu']}, {m['cores']} cores shared with other jobs (load average
{", ".join(f"{x:.1f}" for x in data.get("load_average") or [])} over 1, 5, 15 min at the end), {data['when']}; tiny checkpoint, {st['size']}², euler {st['steps']} steps, ColorTarget verifier, CPU
servers with one torch thread each; medians of {len(ov)} overhead tasks and {st['rounds']} interleaved rounds.
JSON: `bench/out/cluster.json`, plot: `bench/out/cluster.png`.

{t1}

{t2}

The merged search on two servers equalled the one-server search (every score, the winner): {data['same_result']}.
Two servers here share two cores with each other, with Ray and with other jobs, so the speed-up above is what
two shared CPU cores allow, not a GPU figure. The overhead is per task (one shard, one prompt): Ray's
scheduling, the actor's HTTP round trip (it polls /history every {st['poll_s']} s), the image back through
Ray's object store. Starting Ray and the servers is paid once per run.

On paper, from the measured overhead ({o:.3f} s per task), against one server driven directly; work split
evenly; model loading (once per server) left out. The per-candidate GPU times are assumptions for the
arithmetic (no GPU here), a DrawBench task is a search of N=4:

{t3}

A 64-candidate search at 1 s per candidate takes 64 s on one GPU and ceil(64/K) s + {o:.2f} s on K; past
K = 64 nothing is left to split. DrawBench is 200 prompts × configurations of independent tasks: it scales
with K at an efficiency of task time / (task time + {o:.2f} s) until K approaches the number of tasks.

![cluster](out/cluster.png)
""")
    return data


def main_entry(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--render-only", action="store_true", help="recompute medians, projection, PNG and the README "
                    "section from bench/out/cluster.json (no new measurement)")
    a, rest = ap.parse_known_args(argv)
    if a.render_only:
        import json
        return render(json.loads((H.OUT / "cluster.json").read_text()))
    return main(rest)


if __name__ == "__main__":
    main_entry()
