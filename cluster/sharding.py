"""One random search split into seed ranges, and the shards' reports merged into the report the
whole search on one server gives (no Ray, no ComfyUI: plain data in, plain data out).

Random search (best-of-N) scores candidate i from the noise of seed + i, alone (on CPU the pack
runs every latent as a batch-1 call, so a candidate does not depend on which others share its
batch). Candidates are independent until the final argmax, so seeds [s, s+N) split into
contiguous ranges [s+a, s+b) run anywhere; the merged winner is the first maximum over the ranges
in seed order, exactly the single run's first maximum.

What cannot be split this way: the steps that decide between candidates while they run (a
zero-order pivot against its neighbours, a hop of search over paths, particle resampling), and a
rank ensemble's scores (ranks within the set scored together). Those searches run whole, each on
one server; independent searches (other prompts, other settings, restarts from other seeds) spread.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

SEARCH_NODES = ("NoiseSearchSampler", "NoiseSearchSamplerAdvanced")


class ShardError(ValueError):
    pass


def split(n: int, k: int) -> List[Tuple[int, int]]:
    """``[start, stop)`` candidate ranges: ``n`` candidates over at most ``k`` shards, sizes
    differing by at most one, in order."""
    if n < 1:
        raise ShardError(f"candidates: must be at least 1, got {n}")
    if k < 1:
        raise ShardError(f"shards: must be at least 1, got {k}")
    k = min(k, n)
    q, r = divmod(n, k)
    out, a = [], 0
    for i in range(k):
        b = a + q + (1 if i < r else 0)
        out.append((a, b))
        a = b
    return out


def search_node(wf: Dict[str, Any]) -> str:
    """The id of the workflow's one search node."""
    ids = [i for i, n in wf.items() if isinstance(n, dict) and n.get("class_type") in SEARCH_NODES]
    if len(ids) != 1:
        raise ShardError(f"the workflow needs exactly one Noise Search Sampler (or Advanced) node, found {len(ids)}; "
                         "export it with 'Save (API)' / 'Export (API)'")
    return ids[0]


def _linked(wf, inputs, name) -> Optional[str]:
    v = inputs.get(name)
    return str(v[0]) if isinstance(v, list) and len(v) == 2 and str(v[0]) in wf else None


def search_settings(wf: Dict[str, Any]) -> Dict[str, Any]:
    """Where the search's seed and candidate count live: ``{"node", "seed_node", "seed_key",
    "count_node", "count_key", "seed", "candidates"}``. Refuses what cannot be split."""
    sid = search_node(wf)
    inputs = wf[sid]["inputs"]
    if int(inputs.get("budget_nfe", 0) or 0) > 0:
        raise ShardError("budget_nfe: a sharded search splits candidates, not a budget; set budget_nfe to 0 and "
                         "give the number of candidates")
    if inputs.get("rerender_winner"):
        raise ShardError("rerender_winner: set it to false for a sharded search (on CPU the winner is exact "
                         "already; re-render the winning seed with a plain KSampler if you need it)")
    if wf[sid]["class_type"] == "NoiseSearchSampler":
        seed_node, seed_key = sid, "seed"
    else:
        nid = _linked(wf, inputs, "noise")
        if nid is None or "noise_seed" not in wf[nid]["inputs"]:
            raise ShardError("noise: the advanced search node needs a Random Noise node (noise_seed) to shard")
        seed_node, seed_key = nid, "noise_seed"
    v = _linked(wf, inputs, "verifier")
    if v is not None and wf[v].get("class_type") == "NoiseSearchEnsemble":
        raise ShardError("verifier: a rank ensemble scores candidates by their rank within the set scored together, "
                         "so shards cannot merge into the single search's result; run it on one server (or use "
                         "one verifier)")
    count_node, count_key = sid, "candidates"
    st = _linked(wf, inputs, "strategy")
    if st is not None:
        if wf[st]["class_type"] != "NoiseSearchRandom":
            raise ShardError(f"strategy: {wf[st]['class_type']} decides between candidates while it runs, so one "
                             "search cannot be split over servers; use the random strategy (or none), or run "
                             "whole searches (a prompt set) on many servers instead")
        count_node = st
    seed = wf[seed_node]["inputs"][seed_key]
    count = wf[count_node]["inputs"][count_key]
    if isinstance(seed, list) or isinstance(count, list):
        raise ShardError("the search's seed and candidate count must be plain values in the workflow, not links")
    return {"node": sid, "seed_node": seed_node, "seed_key": seed_key, "count_node": count_node,
            "count_key": count_key, "seed": int(seed), "candidates": int(count)}


def shard_workflows(wf: Dict[str, Any], shards: int, candidates: Optional[int] = None,
                    seed: Optional[int] = None) -> List[Dict[str, Any]]:
    """One workflow per seed range: ``{"start", "stop", "seed", "workflow"}``."""
    s = search_settings(wf)
    n = s["candidates"] if candidates is None else int(candidates)
    base = s["seed"] if seed is None else int(seed)
    out = []
    for a, b in split(n, shards):
        w = copy.deepcopy(wf)
        w[s["seed_node"]]["inputs"][s["seed_key"]] = base + a
        w[s["count_node"]]["inputs"][s["count_key"]] = b - a
        out.append({"start": a, "stop": b, "seed": base + a, "workflow": w})
    return out


def merge(parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Merge shard results ``{"start", "report", "server", "seconds", "finished_s"}`` (in any order)
    into one report shaped like a single search's: candidates renumbered in seed order with their
    cumulative NFE, the first maximum as the winner, NFE and verifier calls summed; each candidate
    also names its ``server`` and its shard's time."""
    parts = sorted(parts, key=lambda p: p["start"])
    if not parts:
        raise ShardError("no shards to merge")
    cands: List[Dict[str, Any]] = []
    nfe = calls = 0
    shards = []
    for p in parts:
        rep = p["report"]
        if rep.get("algorithm") != "random":
            raise ShardError(f"shard at candidate {p['start']} ran {rep.get('algorithm')!r}, not random search")
        if rep.get("selection") or any("members" in c for c in rep["candidates"]):
            raise ShardError("a rank ensemble scores candidates by their rank within the set scored together, so "
                             "shards cannot be merged into the single search's result; run it on one server")
        if len(cands) != p["start"]:
            raise ShardError(f"shards do not tile the candidates: expected one starting at {len(cands)}, "
                             f"got {p['start']}")
        for c in rep["candidates"]:
            c = dict(c)
            c["index"] = p["start"] + int(c["index"])
            c["nfe"] = nfe + int(c["nfe"])
            c["server"] = p.get("server")
            c["shard_seconds"] = p.get("seconds")
            c["finished_s"] = p.get("finished_s")
            cands.append(c)
        nfe += int(rep["totals"]["nfe"])
        calls += int(rep["totals"]["verifier_calls"])
        shards.append({"start": p["start"], "stop": p["start"] + len(rep["candidates"]), "server": p.get("server"),
                       "seconds": p.get("seconds"), "nfe": rep["totals"]["nfe"], "best": rep["best"]})
    # the report writes a non-finite score as null; it ranks lowest, as in the search
    scores = [float("-inf") if c["score"] is None else float(c["score"]) for c in cands]
    w = max(range(len(scores)), key=lambda i: (scores[i], -i))  # first maximum, as the search's own argmax
    first = parts[0]["report"]
    seeds = [c["seed"] for c in cands]
    return {
        "algorithm": "random",
        "best": {"score": cands[w]["score"], "seed": cands[w]["seed"], "candidate": w, "server": cands[w]["server"]},
        "totals": {"nfe": nfe, "verifier_calls": calls, "candidates": len(cands), "shards": len(parts)},
        "candidates": cands,
        "recipe": {"algorithm": "random", "seed": seeds[0], "n": len(cands), "seeds": seeds},
        "settings": first.get("settings"),
        "shards": shards,
        "winner_shard": next(i for i, s in enumerate(shards) if s["start"] <= w < s["stop"]),
    }
