"""The two jobs on a pool of workers: one random search sharded over the servers, and a prompt set
(or grid) streamed into a resumable output folder. Both only need a :class:`workers.Pool`."""
from __future__ import annotations

import json
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import sharding, tasks as T, workers


def search_report(outputs: Dict[str, Any], node: str) -> Optional[Dict[str, Any]]:
    """The search node's report: its UI entry, or (when the server answered the search from its
    cache and the node did not run) the Preview Any of its report output."""
    rep = outputs.get(node, {}).get("noise_search")
    if rep:
        return rep[0]
    text = outputs.get(T.REPORT_NODE, {}).get("text")
    return json.loads(text[0]) if text else None


# -- progress ---------------------------------------------------------------------------------------
class Progress:
    """A tqdm bar (rate and ETA) when tqdm is there and the output is a terminal, else one line per
    finished task with the rate and the ETA."""

    def __init__(self, total: int, desc: str, quiet: bool = False, stream=None):
        self.total, self.desc, self.quiet, self.n, self.t0 = total, desc, quiet, 0, time.time()
        self.stream = stream or sys.stderr
        self.bar = None
        if not quiet and getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=desc, unit="task", file=self.stream, smoothing=0.1)
            except ImportError:
                pass

    def update(self, note: str = ""):
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(1)
        elif not self.quiet:
            dt = time.time() - self.t0
            rate = self.n / dt if dt > 0 else 0.0
            eta = (self.total - self.n) / rate if rate > 0 else float("nan")
            print(f"[{self.desc}] {self.n}/{self.total}  {rate * 60:.2f} tasks/min  ETA {eta:.0f} s  {note}",
                  file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# -- one search over many servers -------------------------------------------------------------------
WINNER_LATENT = "ns_cluster_latent"
CANDIDATES = "ns_cluster_candidates"


def sharded_search(pool: workers.Pool, wf: Dict[str, Any], out: Optional[Path] = None,
                   candidates: Optional[int] = None, seed: Optional[int] = None, shards: Optional[int] = None,
                   save_candidates: bool = False, quiet: bool = False) -> Dict[str, Any]:
    """Split the workflow's random search into ``shards`` seed ranges (default: one per server), run
    them on the pool, merge. Returns ``{"report", "winner_latent" (bytes), "winner_image" (bytes),
    "candidate_images" (list of bytes, with save_candidates), "seconds"}``; with ``out``, also
    writes report.json, winner.latent, winner.png (and candidates/)."""
    sid = sharding.search_node(wf)
    parts = sharding.shard_workflows(wf, shards or len(pool.handles), candidates, seed)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    jobs = []
    for i, p in enumerate(parts):
        w = p["workflow"]
        key = f"shard{i:03d}-{run_id}"
        w[WINNER_LATENT] = {"class_type": "SaveLatent", "inputs": {"samples": [sid, 0],
                                                                   "filename_prefix": f"ns_cluster/{key}"}}
        T.add_winner_save(w, key)
        fetch = [WINNER_LATENT, T.SAVE_NODE]
        if save_candidates:
            w[CANDIDATES] = {"class_type": "SaveImage", "inputs": {"images": [sid, 1],
                                                                   "filename_prefix": f"ns_cluster/{key}_cand"}}
            fetch.append(CANDIDATES)
        jobs.append({"key": key, "workflow": w, "fetch": fetch, "start": p["start"]})
    by_key = {j["key"]: j for j in jobs}
    results: Dict[str, Dict[str, Any]] = {}
    t0 = time.time()
    bar = Progress(len(jobs), "search shards", quiet)

    def got(res):
        res["finished_s"] = time.time() - t0
        results[res["key"]] = res
        bar.update(f"{res['server']}")

    try:
        workers.run(pool, jobs, got)
    finally:
        bar.close()
    bad = [r for r in results.values() if not r["ok"]]
    if bad:
        raise RuntimeError(f"shard {bad[0]['key']} failed on {bad[0]['server']}: {bad[0]['error']}")
    merged = sharding.merge([{"start": by_key[k]["start"], "report": search_report(r["outputs"], sid),
                              "server": r["server"], "seconds": r["seconds"], "finished_s": r["finished_s"]}
                             for k, r in results.items()])
    ordered = sorted(results.values(), key=lambda r: by_key[r["key"]]["start"])
    win = ordered[merged["winner_shard"]]
    res = {"report": merged, "winner_latent": win["files"][WINNER_LATENT][0]["data"],
           "winner_image": win["files"][T.SAVE_NODE][0]["data"], "seconds": time.time() - t0,
           "candidate_images": [f["data"] for r in ordered for f in r["files"].get(CANDIDATES, [])]}
    merged["wall_seconds"] = res["seconds"]
    merged["servers"] = [i["name"] for i in pool.infos]
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        T._atomic_write(out / "report.json", json.dumps(merged, indent=1).encode())
        T._atomic_write(out / "winner.latent", res["winner_latent"])
        T._atomic_write(out / "winner.png", res["winner_image"])
        if save_candidates:
            (out / "candidates").mkdir(exist_ok=True)
            for c, data in zip(merged["candidates"], res["candidate_images"]):
                T._atomic_write(out / "candidates" / f"{c['index']:05d}_seed{c['seed']}.png", data)
    return res


# -- prompt sets and grids --------------------------------------------------------------------------
def run_tasks(pool: workers.Pool, tasks: Sequence[T.Task], out: Path, retry_errors: bool = False,
              quiet: bool = False, on_row: Optional[Callable[[Dict[str, Any], Optional[bytes]], None]] = None
              ) -> Dict[str, Any]:
    """Run every task not yet done in ``out`` (see :class:`tasks.OutputFolder`); stream each result
    there as it finishes. Returns ``{"ran", "skipped", "rows"}`` (rows: the folder's latest line per
    task of this set). A task built with an error (a bad prompt or setting) is recorded as failed
    without running."""
    folder = T.OutputFolder(out)
    done = folder.done(retry_errors)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise T.TaskError("two tasks share a key (the same prompt id and setting twice?)")
    todo = [t for t in tasks if t.key not in done]
    by_key = {t.key: t for t in todo}
    bar = Progress(len(todo), "tasks", quiet)
    t0 = time.time()
    written = set()

    def record(res):
        t = by_key[res["key"]]
        if t.key in written:  # never twice (Ray delivers a task's result once; this guards the folder)
            return
        written.add(t.key)
        row = {"key": t.key, "prompt_index": t.prompt_index, "id": t.meta.get("id"), "prompt": t.prompt,
               "setting": t.setting, "label": t.label, "server": res.get("server"),
               "incarnation": res.get("incarnation"),
               "seconds": res.get("seconds"), "server_seconds": res.get("server_seconds"),
               "finished_s": time.time() - t0}
        image = report = None
        if res.get("ok"):
            sid = sharding.search_node(t.workflow)
            report = search_report(res["outputs"], sid)
            files = res["files"].get(t.fetch[0], []) if t.fetch else []
            image = files[0]["data"] if files else None
            best = (report or {}).get("best", {})
            totals = (report or {}).get("totals", {})
            row.update(status="ok", best_seed=best.get("seed"), best_score=best.get("score"),
                       nfe=totals.get("nfe"), verifier_calls=totals.get("verifier_calls"),
                       candidates=totals.get("candidates"), algorithm=(report or {}).get("algorithm"))
        else:
            row.update(status="error", error=res.get("error"))
        row = folder.write(row, image=image, report=report)
        if on_row:
            on_row(row, image)
        bar.update(f"{row['server']} {row['status']}")

    pre = [t for t in todo if t.workflow is None]
    for t in pre:
        record({"key": t.key, "ok": False, "server": None, "seconds": 0.0, "error": t.meta["error"]})
    try:
        workers.run(pool, [{"key": t.key, "workflow": t.workflow, "fetch": list(t.fetch)}
                           for t in todo if t.workflow is not None], record)
    finally:
        bar.close()
    latest: Dict[str, Dict[str, Any]] = {}
    for r in folder.rows():
        latest[r["key"]] = r
    rows = [latest[k] for k in keys if k in latest]
    return {"ran": len(written), "skipped": len(tasks) - len(todo), "rows": rows,
            "seconds": time.time() - t0}


def summarize(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    by_label: Dict[str, Dict[str, Any]] = {}
    for r in rows:
        s = by_label.setdefault(r["label"], {"tasks": 0, "ok": 0, "errors": 0, "scores": [], "nfe": [],
                                             "seconds": []})
        s["tasks"] += 1
        if r.get("status") == "ok":
            s["ok"] += 1
            if r.get("best_score") is not None:
                s["scores"].append(r["best_score"])
            if r.get("nfe") is not None:
                s["nfe"].append(r["nfe"])
            if r.get("seconds") is not None:
                s["seconds"].append(r["seconds"])
        else:
            s["errors"] += 1

    def mean(v):
        return sum(v) / len(v) if v else None
    table = {k: {"tasks": s["tasks"], "ok": s["ok"], "errors": s["errors"], "mean_best_score": mean(s["scores"]),
                 "mean_nfe": mean(s["nfe"]), "mean_seconds": mean(s["seconds"])} for k, s in by_label.items()}
    servers: Dict[str, int] = {}
    for r in rows:
        if r.get("server"):
            servers[r["server"]] = servers.get(r["server"], 0) + 1
    return {"settings": table, "servers": servers, "tasks": len(rows),
            "errors": sum(1 for r in rows if r.get("status") != "ok")}


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def table_md(summary: Dict[str, Any]) -> str:
    head = ["setting", "tasks", "ok", "errors", "mean best score", "mean NFE", "mean s / task"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, s in summary["settings"].items():
        lines.append("| " + " | ".join(_fmt(x) for x in (label, s["tasks"], s["ok"], s["errors"],
                                                         s["mean_best_score"], s["mean_nfe"],
                                                         s["mean_seconds"])) + " |")
    lines.append("")
    lines.append("tasks per server: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["servers"].items())))
    return "\n".join(lines)


def plot(rows: List[Dict[str, Any]], summary: Dict[str, Any], path: Path) -> Optional[Path]:
    """Mean best score per setting, and when each task finished on which server."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    labels = list(summary["settings"])
    vals = [summary["settings"][k]["mean_best_score"] or 0.0 for k in labels]
    a.plot(vals, range(len(labels)), "o")
    a.grid(axis="x", alpha=0.3)
    a.set_yticks(range(len(labels)), labels, fontsize=7)
    a.set_xlabel("mean best score (the search's verifier)")
    servers = sorted({r.get("server") or "-" for r in rows})
    for i, s in enumerate(servers):
        ts = [r["finished_s"] for r in rows if (r.get("server") or "-") == s and r.get("finished_s") is not None]
        a_ok = [r.get("status") == "ok" for r in rows if (r.get("server") or "-") == s and r.get("finished_s") is not None]
        b.scatter(ts, [i] * len(ts), c=["tab:green" if ok else "tab:red" for ok in a_ok], s=18)
    b.set_yticks(range(len(servers)), servers)
    b.set_xlabel("finished at (s since this run started; red: failed)")
    b.set_title(f"{len(rows)} tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def finish(out: Path, result: Dict[str, Any], quiet: bool = False) -> Dict[str, Any]:
    summary = summarize(result["rows"])
    summary.update(ran=result["ran"], skipped=result["skipped"], seconds_this_run=result["seconds"])
    out = Path(out)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    md = table_md(summary)
    (out / "table.md").write_text(md + "\n")
    png = plot(result["rows"], summary, out / "summary.png")
    if not quiet:
        print(md)
        print(f"ran {result['ran']}, skipped (done before) {result['skipped']}; results in {out}"
              + (f"; plot {png}" if png else ""))
    return summary
