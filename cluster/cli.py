"""Command line: ``python -m cluster {search,prompts} ...`` (run from the pack's folder).

    # one random search of 64 candidates over every GPU of this machine (embedded Ray, 127.0.0.1 only)
    python -m cluster search --comfy ~/ComfyUI --workflow search_api.json --candidates 64 --out runs/s1

    # a prompt set x a grid of settings, streamed into a resumable folder
    python -m cluster prompts --comfy ~/ComfyUI --workflow search_api.json --prompts prompts.txt \\
        --grid candidates=4,16 --grid strategy=random:8,zero_order:4x2 --out runs/p1

    # an existing Ray cluster (on a private network) instead of the embedded instance
    python -m cluster prompts --address 10.0.0.5:6379 --comfy /opt/ComfyUI ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import jobs, sharding, tasks as T, workers


def add_cluster_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("servers")
    g.add_argument("--address", default=None,
                   help="join this Ray cluster (head 'IP:PORT', or 'auto' on a node of it); default: an embedded "
                        "Ray instance on this machine, bound to 127.0.0.1 only, no dashboard")
    g.add_argument("--comfy", type=Path, default=None,
                   help="your ComfyUI folder (holds main.py; this pack in its custom_nodes), same path on every "
                        "node; each worker starts a server from it on a free loopback port")
    g.add_argument("--python", type=Path, default=None,
                   help="the Python that runs ComfyUI (default: this one)")
    g.add_argument("--base-dir", type=Path, default=None,
                   help="a ComfyUI --base-directory for the servers (models, custom_nodes); default: the "
                        "ComfyUI folder's own")
    g.add_argument("--url", action="append", default=[],
                   help="attach to a running server instead of starting one (repeat for several; one worker "
                        "each); it must be reachable from the Ray node the worker lands on")
    g.add_argument("--servers", type=int, default=None,
                   help="how many servers to start (default: one per GPU in the cluster; one on a CPU machine)")
    g.add_argument("--cpu", action="store_true", help="start CPU servers (--cpu) even where there are GPUs")
    g.add_argument("--server-arg", action="append", default=[],
                   help="an extra argument for every server's main.py (e.g. --server-arg=--highvram)")
    g.add_argument("--tiny", action="store_true",
                   help="test host: the tiny checkpoint in a prepared base directory (scripts/host.py)")
    g.add_argument("--quiet", action="store_true")


def open_pool(a) -> workers.Pool:
    """The pool the arguments ask for (the caller closes it; with --tiny, closing also removes the
    prepared base directory)."""
    spec = {"cpu": a.cpu, "extra_args": a.server_arg, "python": str(a.python) if a.python else None}
    tmp = None
    if a.tiny:
        import tempfile
        from scripts.host import COMFY, VENV_PY, prepare_base_dir
        tmp = tempfile.TemporaryDirectory(prefix="ns_cluster_base_")
        prepare_base_dir(Path(tmp.name))
        spec.update(base_dir=tmp.name, comfy=str(COMFY), python=str(VENV_PY), cpu=True)
    else:
        if not a.url and a.comfy is None:
            raise SystemExit("give --comfy (your ComfyUI folder) or --url (running servers)")
        if a.comfy is not None:
            spec["comfy"] = str(Path(a.comfy).expanduser().resolve())
        if a.base_dir is not None:
            spec["base_dir"] = str(Path(a.base_dir).expanduser().resolve())
    pool = start_pool(a.address, a.servers, a.url, spec, a.quiet)
    if tmp is not None:
        pool.cleanup.append(tmp.cleanup)
    return pool


def start_pool(address, servers, urls, spec, quiet=False) -> workers.Pool:
    """Ray (embedded when ``address`` is None) and one worker per server."""
    import os
    if address is None:  # Ray finds the GPUs itself; enough CPU slots for the servers asked for
        ncpu = max(os.cpu_count() or 1, servers or 1, len(urls))
        ray = workers.start_ray(None, num_cpus=ncpu, num_gpus=0 if spec.get("cpu") else None)
    else:
        ray = workers.start_ray(address)
    try:
        pool = workers.make_workers(ray, servers=servers, urls=urls, spec=spec, own_ray=True)
    except BaseException:
        ray.shutdown()
        raise
    if not quiet:
        print("servers: " + ", ".join(f"{i['name']} {i['url']}" for i in pool.infos), file=sys.stderr)
    return pool


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("search", help="one random search split into seed ranges over the servers, merged")
    s.add_argument("--workflow", type=Path, required=True, help="API-format workflow with one search node")
    s.add_argument("--candidates", type=int, default=None, help="N (default: the workflow's)")
    s.add_argument("--seed", type=int, default=None, help="base seed (default: the workflow's)")
    s.add_argument("--shards", type=int, default=None, help="seed ranges (default: one per server)")
    s.add_argument("--save-candidates", action="store_true", help="also save every candidate's image")
    s.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("prompts", help="a prompt set (and a grid of settings) into a resumable output folder")
    p.add_argument("--workflow", type=Path, required=True, help="API-format workflow with one search node")
    p.add_argument("--prompts", type=Path, required=True, help="text (one prompt a line) or JSONL "
                   "({\"prompt\", optional \"id\", \"seed\", \"negative\"})")
    p.add_argument("--grid", action="append", default=[], help="NAME=v1,v2 (repeat): candidates, seed, steps, cfg, "
                   "sampler_name, scheduler, max_batch, budget_nfe, strategy (random:N, zero_order:NxK, "
                   "paths:NxM) or NODE_ID.INPUT")
    p.add_argument("--grid-file", type=Path, default=None, help="JSON object NAME -> list of values")
    p.add_argument("--prompt-node", default=None, help="id of the text node that takes the prompt (default: the "
                   "one feeding the search's positive conditioning)")
    p.add_argument("--retry-errors", action="store_true", help="run failed tasks again")
    p.add_argument("--out", type=Path, required=True)
    for x in (s, p):
        add_cluster_args(x)
    a = ap.parse_args(argv)
    wf = json.loads(a.workflow.read_text())
    if "nodes" in wf and "links" in wf:
        raise SystemExit(f"{a.workflow} is a UI workflow; export it with 'Export (API)' and pass that file")
    if a.cmd == "search":
        try:  # refuse what cannot be split before any server starts
            sharding.shard_workflows(wf, 1, a.candidates, a.seed)
        except sharding.ShardError as e:
            raise SystemExit(f"{a.workflow}: {e}") from None
    if a.cmd == "prompts":
        tasks = T.make_tasks(wf, T.read_prompts(a.prompts), T.parse_grid(a.grid, a.grid_file), a.prompt_node)
        done = T.OutputFolder(a.out).done(a.retry_errors)
        if all(t.key in done for t in tasks):
            print(f"all {len(tasks)} tasks are done in {a.out}", file=sys.stderr)
            return jobs.finish(a.out, {"rows": [done[t.key] for t in tasks], "ran": 0, "skipped": len(tasks),
                                       "seconds": 0.0}, a.quiet)
    pool = open_pool(a)
    try:
        if a.cmd == "search":
            res = jobs.sharded_search(pool, wf, a.out, a.candidates, a.seed, a.shards, a.save_candidates, a.quiet)
            rep = res["report"]
            print(f"winner: seed {rep['best']['seed']} score {rep['best']['score']} (candidate "
                  f"{rep['best']['candidate']} of {rep['totals']['candidates']}, server {rep['best']['server']}); "
                  f"NFE {rep['totals']['nfe']}, verifier calls {rep['totals']['verifier_calls']}; "
                  f"{res['seconds']:.1f} s; {a.out}")
            return rep
        res = jobs.run_tasks(pool, tasks, a.out, a.retry_errors, a.quiet)
        return jobs.finish(a.out, res, a.quiet)
    except KeyboardInterrupt:
        print(f"\nstopped; finished results stay in {a.out}; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)
    finally:
        pool.close()
