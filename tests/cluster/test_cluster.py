"""Searches and prompt sets on a local Ray instance with two CPU ComfyUI servers (conftest.py)."""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import safetensors.torch
import torch
from PIL import Image

from cluster import jobs, sharding, tasks as T
from tests.host import workflows as W

pytestmark = pytest.mark.host
ROOT = Path(__file__).resolve().parents[2]


def search_wf(seed=7, n=6, prompt="a red apple on a table"):
    wf = W.search(W.base(prompt=prompt), seed, W.color_verifier("#c03030"), candidates=n, steps=3, max_batch=4)
    del wf["save_latent"], wf["save_images"]  # the cluster adds what it fetches
    return wf


def latent(data: bytes) -> torch.Tensor:
    return safetensors.torch.load(data)["latent_tensor"]


def pixels(png: bytes) -> bytes:
    """A PNG's pixels (its text chunks hold the workflow, which differs between shards)."""
    im = Image.open(io.BytesIO(png))
    return im.mode.encode() + bytes(im.size[0]) + im.tobytes()


def test_everything_listens_on_loopback_only(pool):
    """The embedded Ray instance and the servers bind 127.0.0.1 only (Ray's servers take no
    authentication worth trusting: CVE-2023-48022)."""
    procs = psutil.Process().children(recursive=True)
    listening = []
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(p.name(), c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    assert any(n.startswith("gcs_server") for n, _, _ in listening), listening  # Ray's own servers are seen
    assert {i["url"].split(":")[1] for i in pool.infos} == {"//127.0.0.1"}
    outside = [x for x in listening if x[1] not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")]
    assert not outside, f"listening beyond loopback: {outside}"


def test_sharded_search_equals_one_server_bit_for_bit(pool):
    wf = search_wf()
    one = jobs.sharded_search(pool, wf, shards=1, save_candidates=True, quiet=True)
    two = jobs.sharded_search(pool, wf, shards=2, save_candidates=True, quiet=True)
    r1, r2 = one["report"], two["report"]
    assert r2["totals"]["shards"] == 2 and len({s["server"] for s in r2["shards"]}) == 2  # both servers used
    # every candidate: the same seed, the same score (exact float), the same cumulative NFE
    for key in ("seed", "score", "nfe", "index"):
        assert [c[key] for c in r1["candidates"]] == [c[key] for c in r2["candidates"]], key
    assert r1["best"] == {**r2["best"], "server": r1["best"]["server"]}
    assert r1["totals"]["nfe"] == r2["totals"]["nfe"] == 6 * 3
    assert r1["totals"]["verifier_calls"] == r2["totals"]["verifier_calls"] == 6
    assert len(set(c["score"] for c in r1["candidates"])) > 1  # the scores differ: the winner is a real choice
    # the winner's latent bit for bit, and every candidate's decoded image byte for byte
    assert torch.equal(latent(one["winner_latent"]), latent(two["winner_latent"]))
    assert pixels(one["winner_image"]) == pixels(two["winner_image"])
    assert len(one["candidate_images"]) == len(two["candidate_images"]) == 6
    assert [pixels(x) for x in one["candidate_images"]] == [pixels(x) for x in two["candidate_images"]]
    assert len({pixels(x) for x in one["candidate_images"]}) == 6  # six different candidates
    assert all(c["server"] in pool.names and c["shard_seconds"] > 0 for c in r2["candidates"])
    # the same search again: the server answers from its cache (the search node does not run), and the
    # report still comes back, equal
    again = jobs.sharded_search(pool, wf, shards=2, quiet=True)
    assert [c["score"] for c in again["report"]["candidates"]] == [c["score"] for c in r1["candidates"]]
    assert torch.equal(latent(again["winner_latent"]), latent(one["winner_latent"]))


def test_refuses_what_cannot_be_split():
    wf = search_wf()
    wf["strategy"] = W.zero_order()
    wf["search"]["inputs"]["strategy"] = ["strategy", 0]
    with pytest.raises(sharding.ShardError, match="strategy: NoiseSearchZeroOrder decides between candidates"):
        sharding.shard_workflows(wf, 2)
    wf = search_wf()
    wf["search"]["inputs"]["budget_nfe"] = 12
    with pytest.raises(sharding.ShardError, match="budget_nfe"):
        sharding.shard_workflows(wf, 2)
    assert sharding.split(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert sharding.split(2, 5) == [(0, 1), (1, 2)]


def prompt_tasks(tmp_path, n=6, extra=()):
    lines = [json.dumps({"id": f"q{i}", "prompt": f"prompt number {i}"}) for i in range(n)] + list(extra)
    (tmp_path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    return T.make_tasks(search_wf(n=2), T.read_prompts(tmp_path / "prompts.jsonl"), T.parse_grid())


def lines(out):
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_prompt_set_uses_both_servers_isolates_a_bad_item_and_resumes(pool, tmp_path):
    bad = json.dumps({"id": "bad", "prompt": "a bad item", "seed": -5})  # below the seed's minimum of 0
    tasks = prompt_tasks(tmp_path, 6, [bad])
    out = tmp_path / "out"
    res = jobs.run_tasks(pool, tasks, out, quiet=True)
    rows = lines(out)
    assert sorted(r["key"] for r in rows) == sorted(t.key for t in tasks)  # each once
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 6 and {r["server"] for r in ok} == set(pool.names)
    err = [r for r in rows if r["status"] != "ok"]
    assert [r["id"] for r in err] == ["bad"]
    assert "seed" in err[0]["error"] and "-5" in err[0]["error"], err[0]["error"]  # the server's own message
    for r in ok:
        assert (out / r["image"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        rep = json.loads((out / r["report"]).read_text())
        assert rep["best"]["seed"] == r["best_seed"] and rep["totals"]["candidates"] == 2
    summary = jobs.finish(out, res, quiet=True)
    assert summary["errors"] == 1 and sum(summary["servers"].values()) == 7  # the bad item ran, and failed
    assert (out / "summary.png").exists() and "mean best score" in (out / "table.md").read_text()
    # a rerun has nothing to do and writes nothing
    again = jobs.run_tasks(pool, tasks, out, quiet=True)
    assert again["ran"] == 0 and again["skipped"] == 7 and len(lines(out)) == 7


def test_ctrl_c_on_the_command_line_stops_cleanly_and_a_rerun_resumes(pool, tmp_path):
    """``python -m cluster prompts`` (its own embedded Ray, workers attached to this session's two
    servers by URL) gets SIGINT after two results: it exits 130 with those two kept; the same command
    again runs the rest, each task once."""
    (tmp_path / "wf.json").write_text(json.dumps(search_wf(n=2)))
    (tmp_path / "prompts.txt").write_text("".join(f"prompt {i}\n" for i in range(6)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cluster", "prompts", "--workflow", str(tmp_path / "wf.json"),
           "--prompts", str(tmp_path / "prompts.txt"), "--out", str(out),
           *[x for i in pool.infos for x in ("--url", i["url"])]]
    ray_tmp = Path("/tmp") / f"ns_ray_cli_{os.getpid()}"  # short: Ray's socket paths stay under 108 bytes
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.time()
        while time.time() - t0 < 180 and proc.poll() is None:
            if (out / "results.jsonl").exists() and len(lines(out)) >= 2:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        log, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, log[-3000:]
    assert "run the same command again to resume" in log
    first = lines(out)
    assert 2 <= len(first) < 6 and len({r["key"] for r in first}) == len(first)
    p2 = subprocess.run(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert p2.returncode == 0, (p2.stdout + p2.stderr)[-3000:]
    assert f"skipped (done before) {len(first)}" in p2.stdout
    rows = lines(out)
    assert len(rows) == 6 and len({r["key"] for r in rows}) == 6 and all(r["status"] == "ok" for r in rows)
    assert (out / "summary.png").exists() and "| workflow | 6 | 6 | 0 |" in (out / "table.md").read_text()
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_server_killed_mid_run_the_run_completes_each_item_once(pool, tmp_path):
    tasks = prompt_tasks(tmp_path, 6)
    out = tmp_path / "out"
    import ray
    victim = pool.infos[0]
    killed = []

    def kill_first_server(row, image):
        # a result of the other server: the victim has a task in flight now; kill its server mid-task
        if not killed and row["server"] != victim["name"]:
            os.killpg(victim["pid"], signal.SIGKILL)
            killed.append(row["key"])
    jobs.run_tasks(pool, tasks, out, quiet=True, on_row=kill_first_server)
    rows = lines(out)
    assert sorted(r["key"] for r in rows) == sorted(t.key for t in tasks)  # every item exactly once
    assert all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    assert killed and any(r["server"] == victim["name"] and r["incarnation"] == 2 for r in rows)  # retried there
    info = ray.get(pool.handles[0].info.remote())
    assert info["pid"] != victim["pid"] and info["incarnation"] == 2  # Ray restarted the worker: a fresh server
    assert psutil.pid_exists(victim["pid"]) is False or psutil.Process(victim["pid"]).status() == psutil.STATUS_ZOMBIE
    pool.infos[0] = info
