"""The cluster room's host-free parts: seed ranges and the merge of shard reports, prompt files,
grids, task keys and the resumable output folder (no Ray, no ComfyUI)."""
import json
import re
from pathlib import Path

import pytest

from cluster import sharding as S, tasks as T
from tests.host import workflows as W

ROOT = Path(__file__).resolve().parents[2]


def wf(n=4, seed=10):
    w = W.search(W.base(), seed, W.color_verifier(), candidates=n)
    w["clip_v"] = {"class_type": "NoiseSearchCLIPScore", "inputs": {"prompt": "old", "model_override": ""}}
    return w


def test_the_pack_never_imports_the_cluster_room():
    """ComfyUI loads __init__.py and nodes/: neither may import cluster/ (nor Ray)."""
    for f in [ROOT / "__init__.py", *(ROOT / "nodes").glob("*.py"), *(ROOT / "search").glob("*.py"),
              *(ROOT / "verifiers").glob("*.py")]:
        src = f.read_text()
        assert not re.search(r"^\s*(from|import)\s+(\.*cluster|ray)\b", src, re.M), f
    assert "ray" not in (ROOT / "requirements.txt").read_text().lower()
    assert re.search(r"^ray==", (ROOT / "cluster" / "requirements.txt").read_text(), re.M)


def shard_report(start, scores, nfe_each=3, seed0=10):
    b = max(range(len(scores)), key=lambda i: (-1e9 if scores[i] is None else scores[i], -i))
    return {"algorithm": "random", "best": {"score": scores[b], "seed": seed0 + start + b, "candidate": b},
            "totals": {"nfe": nfe_each * len(scores), "verifier_calls": len(scores), "candidates": len(scores)},
            "candidates": [{"index": i, "seed": seed0 + start + i, "score": s, "nfe": nfe_each * (i + 1),
                            "stage": "final"} for i, s in enumerate(scores)],
            "settings": {"steps": 3}}


def test_shards_tile_the_seeds_and_merge_to_the_single_search():
    parts = S.shard_workflows(wf(n=5, seed=10), 2)
    assert [(p["start"], p["stop"], p["seed"]) for p in parts] == [(0, 3, 10), (3, 5, 13)]
    assert [p["workflow"]["search"]["inputs"]["candidates"] for p in parts] == [3, 2]
    assert [p["workflow"]["search"]["inputs"]["seed"] for p in parts] == [10, 13]
    # a tie between shards goes to the first (lowest index), as the single search's first maximum
    m = S.merge([{"start": 3, "report": shard_report(3, [0.9, 0.1]), "server": "b", "seconds": 2.0},
                 {"start": 0, "report": shard_report(0, [0.2, 0.9, None]), "server": "a", "seconds": 1.0}])
    assert m["best"] == {"score": 0.9, "seed": 11, "candidate": 1, "server": "a"}
    assert [c["index"] for c in m["candidates"]] == [0, 1, 2, 3, 4]
    assert [c["seed"] for c in m["candidates"]] == [10, 11, 12, 13, 14]
    assert [c["nfe"] for c in m["candidates"]] == [3, 6, 9, 12, 15]
    assert [c["server"] for c in m["candidates"]] == ["a", "a", "a", "b", "b"]
    assert m["totals"] == {"nfe": 15, "verifier_calls": 5, "candidates": 5, "shards": 2}
    with pytest.raises(S.ShardError, match="do not tile"):
        S.merge([{"start": 1, "report": shard_report(1, [0.1])}])
    w = wf()
    w["verifier"] = {"class_type": "NoiseSearchEnsemble", "inputs": {}}
    with pytest.raises(S.ShardError, match="verifier: a rank ensemble"):
        S.shard_workflows(w, 2)
    ens = shard_report(0, [0.1, 0.2])
    ens["candidates"][0]["members"] = [0.1, 0.3]
    with pytest.raises(S.ShardError, match="rank ensemble"):
        S.merge([{"start": 0, "report": ens}])


def test_advanced_node_shards_through_its_random_noise_and_strategy():
    w = W.advanced(W.base(), 5, W.color_verifier(), strategy=W.random_strategy(4))
    parts = S.shard_workflows(w, 2, candidates=6)
    assert [p["workflow"]["noise"]["inputs"]["noise_seed"] for p in parts] == [5, 8]
    assert [p["workflow"]["strategy"]["inputs"]["candidates"] for p in parts] == [3, 3]
    w["strategy"] = W.paths()
    with pytest.raises(S.ShardError, match="NoiseSearchPaths decides between candidates"):
        S.shard_workflows(w, 2)


def test_prompt_files_and_grids(tmp_path):
    (tmp_path / "p.txt").write_text("# a comment\nfirst prompt\n\n second \n")
    assert T.read_prompts(tmp_path / "p.txt") == [{"prompt": "first prompt"}, {"prompt": "second"}]
    (tmp_path / "p.jsonl").write_text('{"id": "a", "prompt": "x", "seed": 3}\n{"text": "no prompt"}\n')
    with pytest.raises(T.TaskError, match=r"p.jsonl:2 needs an object with a \"prompt\""):
        T.read_prompts(tmp_path / "p.jsonl")
    g = T.parse_grid(["candidates=1,4", "strategy=random:2,zero_order:2x2"])
    assert g == [{"candidates": 1, "strategy": "random:2"}, {"candidates": 1, "strategy": "zero_order:2x2"},
                 {"candidates": 4, "strategy": "random:2"}, {"candidates": 4, "strategy": "zero_order:2x2"}]
    assert T.parse_grid() == [{}]
    with pytest.raises(T.TaskError, match="NAME=value1,value2"):
        T.parse_grid(["candidates"])


def test_tasks_carry_prompt_setting_and_stable_keys():
    prompts = [{"prompt": "a cat"}, {"prompt": "a dog", "seed": 99}]
    grid = T.parse_grid(["candidates=2,3", "cfg=4.5"])
    tasks = T.make_tasks(wf(), prompts, grid)
    assert len(tasks) == 4 and len({t.key for t in tasks}) == 4
    assert [t.key for t in tasks] == [t.key for t in T.make_tasks(wf(), prompts, grid)]  # a rerun finds them
    t = tasks[3]
    assert t.workflow["pos"]["inputs"]["text"] == "a dog" and t.workflow["clip_v"]["inputs"]["prompt"] == "a dog"
    assert t.workflow["search"]["inputs"]["candidates"] == 3 and t.workflow["search"]["inputs"]["cfg"] == 4.5
    assert t.workflow["search"]["inputs"]["seed"] == 99
    assert t.workflow[T.SAVE_NODE]["inputs"]["images"] == [T.DECODE_NODE, 0] and t.fetch == (T.SAVE_NODE,)
    other = T.make_tasks(wf(), [{"prompt": "a cat!"}, prompts[1]], grid)
    assert other[0].key != tasks[0].key and other[3].key == tasks[3].key  # a changed prompt is a new task
    bad = T.make_tasks(wf(), prompts[:1], T.parse_grid(["nosuch.steps=2", "steps=2"]))
    assert bad[0].workflow is None and "no node 'nosuch'" in bad[0].meta["error"]
    adv = W.advanced(W.base(prompt="p"), 1, W.color_verifier())
    assert T.text_node(adv) == "pos" and T.text_node(adv, "negative") == "neg"


def test_output_folder_resumes_and_ignores_a_cut_line(tmp_path):
    f = T.OutputFolder(tmp_path)
    f.write({"key": "k1", "status": "ok"}, image=b"png", report={"best": {}})
    f.write({"key": "k2", "status": "error", "error": "bad"})
    with open(f.results, "a") as h:
        h.write('{"key": "k3", "sta')  # a hard kill in the middle of a line
    assert set(f.done()) == {"k1", "k2"} and set(f.done(retry_errors=True)) == {"k1"}
    assert (tmp_path / "images" / "k1.png").read_bytes() == b"png"
    assert json.loads((tmp_path / "reports" / "k1.json").read_text()) == {"best": {}}
    assert not list(tmp_path.rglob("*.part"))
