"""Prompt sets and grids as tasks, and the output folder they stream into (no Ray, no ComfyUI).

A task is one (prompt, setting): the API workflow with the prompt written into its positive text
node (and into every verifier that takes a ``prompt``) and the setting's inputs changed. Its key
names the prompt's position and the setting and ends in a hash of the task's whole workflow, so a
rerun with the same inputs finds it done, and a changed prompt, setting or workflow is a new task.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .sharding import SEARCH_NODES, search_node


class TaskError(ValueError):
    pass


@dataclass
class Task:
    key: str
    workflow: Dict[str, Any]
    prompt_index: int = 0
    prompt: str = ""
    setting: Dict[str, Any] = field(default_factory=dict)
    label: str = ""
    #: node ids whose saved images / latents come back (the winner's image is ``SAVE_NODE``)
    fetch: Sequence[str] = ()
    meta: Dict[str, Any] = field(default_factory=dict)


SAVE_NODE = "ns_cluster_winner"
DECODE_NODE = "ns_cluster_decode"
#: the search's report string, shown by the stock Preview Any: an output node, so ComfyUI returns its
#: UI (the report) even when it answers the search from its cache and the search node does not run
REPORT_NODE = "ns_cluster_report"


# -- prompts ----------------------------------------------------------------------------------------
def read_prompts(path: Path) -> List[Dict[str, Any]]:
    """A text file (one prompt a line; blank lines and ``#`` comments skipped) or JSONL (one object a
    line with ``prompt``, and optionally ``id``, ``seed``, ``negative``)."""
    path = Path(path)
    if not path.exists():
        raise TaskError(f"prompts: no file {path}")
    items = []
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or (not jsonl and s.startswith("#")):
            continue
        if jsonl:
            try:
                obj = json.loads(s)
            except ValueError as e:
                raise TaskError(f"prompts: {path}:{n} is not JSON ({e})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                raise TaskError(f"prompts: {path}:{n} needs an object with a \"prompt\" string")
            items.append(obj)
        else:
            items.append({"prompt": s})
    if not items:
        raise TaskError(f"prompts: {path} holds no prompts")
    return items


# -- where a prompt goes ----------------------------------------------------------------------------
def _link(wf, inputs, name) -> Optional[str]:
    v = inputs.get(name)
    return str(v[0]) if isinstance(v, list) and len(v) == 2 and str(v[0]) in wf else None


def text_node(wf: Dict[str, Any], side: str = "positive") -> str:
    """The text node that feeds the search's ``positive`` (or ``negative``) conditioning: followed
    through the guider for the advanced node, and through nodes with one conditioning input."""
    sid = search_node(wf)
    start = wf[sid]["inputs"]
    if wf[sid]["class_type"] == "NoiseSearchSamplerAdvanced":
        g = _link(wf, start, "guider")
        if g is None:
            raise TaskError("the advanced search node has no guider node to find the prompt from")
        start = wf[g]["inputs"]
        if side not in start:  # a guider with one conditioning input (e.g. BasicGuider)
            side = "conditioning"
    nid = _link(wf, start, side)
    seen = set()
    while nid is not None and nid not in seen:
        seen.add(nid)
        inputs = wf[nid]["inputs"]
        if isinstance(inputs.get("text"), str):
            return nid
        nid = _link(wf, inputs, "conditioning") or _link(wf, inputs, "conditioning_to") \
            or _link(wf, inputs, side)
    raise TaskError(f"found no text node (an input named 'text') feeding the search's {side} conditioning; "
                    "name one with --prompt-node")


def set_prompt(wf: Dict[str, Any], item: Dict[str, Any], prompt_node: Optional[str] = None) -> Dict[str, Any]:
    wf = copy.deepcopy(wf)
    nid = prompt_node or text_node(wf)
    if nid not in wf or "text" not in wf[nid]["inputs"]:
        raise TaskError(f"--prompt-node {nid}: no node with a 'text' input of that id in the workflow")
    wf[nid]["inputs"]["text"] = item["prompt"]
    for n in wf.values():  # verifiers that read the prompt (CLIPScore, ImageReward, VLM judge, ...)
        if isinstance(n, dict) and str(n.get("class_type", "")).startswith("NoiseSearch") \
                and isinstance(n["inputs"].get("prompt"), str):
            n["inputs"]["prompt"] = item["prompt"]
    if "negative" in item:
        wf[text_node(wf, "negative")]["inputs"]["text"] = item["negative"]
    if "seed" in item:
        set_input(wf, "seed", int(item["seed"]))
    return wf


# -- settings ---------------------------------------------------------------------------------------
def parse_value(s: str) -> Any:
    try:
        return json.loads(s)
    except ValueError:
        return s


def parse_grid(items: Iterable[str] = (), grid_file: Optional[Path] = None) -> List[Dict[str, Any]]:
    """The grid's settings, the product of every axis. An axis is ``NAME=v1,v2,...`` (values as JSON
    where they parse, else strings) or a key of the JSON object in ``grid_file``. NAME is
    ``node_id.input`` or a shorthand: ``seed``, ``candidates``, ``steps``, ``cfg``, ``sampler_name``,
    ``scheduler``, ``max_batch``, ``budget_nfe`` (the search node's), or ``strategy`` with values
    ``random:N``, ``zero_order:NxK[@lam]``, ``paths:NxM``."""
    axes: Dict[str, List[Any]] = {}
    if grid_file:
        obj = json.loads(Path(grid_file).read_text())
        if not isinstance(obj, dict) or not all(isinstance(v, list) and v for v in obj.values()):
            raise TaskError(f"--grid-file {grid_file}: needs a JSON object of non-empty lists")
        axes.update(obj)
    for it in items:
        if "=" not in it:
            raise TaskError(f"--grid {it!r}: write NAME=value1,value2 (e.g. candidates=4,16)")
        k, v = it.split("=", 1)
        axes[k.strip()] = [parse_value(x.strip()) for x in v.split(",") if x.strip()]
    if not axes:
        return [{}]
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def label_of(setting: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.items()) or "workflow"


def strategy_node(spec: str) -> Dict[str, Any]:
    kind, _, arg = str(spec).partition(":")
    try:
        if kind == "random":
            return {"class_type": "NoiseSearchRandom", "inputs": {"candidates": int(arg)}}
        if kind == "zero_order":
            arg, _, lam = arg.partition("@")
            a, b = (int(x) for x in arg.lower().split("x"))
            return {"class_type": "NoiseSearchZeroOrder", "inputs": {"n_neighbors": a, "iterations": b,
                                                                     "lam": float(lam or 0.31)}}
        if kind == "paths":
            a, b = (int(x) for x in arg.lower().split("x"))
            return {"class_type": "NoiseSearchPaths", "inputs": {"n": a, "m": b, "start": 4, "delta_f": 2,
                                                                 "delta_b": 4}}
    except ValueError:
        pass
    raise TaskError(f"strategy {spec!r}: use random:N, zero_order:NxK[@lam] or paths:NxM")


def set_input(wf: Dict[str, Any], name: str, value: Any) -> None:
    sid = search_node(wf)
    if name == "strategy":
        wf["ns_cluster_strategy"] = strategy_node(value)
        wf[sid]["inputs"]["strategy"] = ["ns_cluster_strategy", 0]
        return
    if name == "seed" and wf[sid]["class_type"] == "NoiseSearchSamplerAdvanced":
        noise = _link(wf, wf[sid]["inputs"], "noise")
        if noise is None:
            raise TaskError("seed: the advanced search node's noise is not a Random Noise node")
        wf[noise]["inputs"]["noise_seed"] = value
        return
    if "." in name:
        nid, key = name.split(".", 1)
    else:
        nid, key = sid, name
    if nid not in wf:
        raise TaskError(f"grid axis {name!r}: no node {nid!r} in the workflow")
    if key not in wf[nid]["inputs"]:
        raise TaskError(f"grid axis {name!r}: node {nid} ({wf[nid]['class_type']}) has no input {key!r}")
    wf[nid]["inputs"][key] = value


def apply_setting(wf: Dict[str, Any], setting: Dict[str, Any]) -> Dict[str, Any]:
    wf = copy.deepcopy(wf)
    for k, v in setting.items():
        set_input(wf, k, v)
    return wf


def add_winner_save(wf: Dict[str, Any], key: str) -> None:
    """Decode the search's winner and save it (the image that comes back for the task); show the
    report (see ``REPORT_NODE``)."""
    sid = search_node(wf)
    add_report_preview(wf)
    vae = wf[sid]["inputs"].get("vae")
    wf[DECODE_NODE] = {"class_type": "VAEDecode", "inputs": {"samples": [sid, 0], "vae": vae}}
    wf[SAVE_NODE] = {"class_type": "SaveImage", "inputs": {"images": [DECODE_NODE, 0],
                                                           "filename_prefix": f"ns_cluster/{key}"}}


def add_report_preview(wf: Dict[str, Any]) -> None:
    """Show the search's report string in a stock Preview Any (see ``REPORT_NODE``)."""
    wf[REPORT_NODE] = {"class_type": "PreviewAny", "inputs": {"source": [search_node(wf), 2]}}


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def slug(s: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")[:n] or "x"


def make_tasks(wf: Dict[str, Any], prompts: List[Dict[str, Any]], settings: List[Dict[str, Any]],
               prompt_node: Optional[str] = None) -> List[Task]:
    """One task per (prompt, setting), prompts outer. Errors in a prompt or a setting do not stop
    the others: such a task carries its message and is recorded as failed."""
    if not any(isinstance(n, dict) and n.get("class_type") in SEARCH_NODES for n in wf.values()):
        raise TaskError("the workflow has no Noise Search Sampler node; export it in API format")
    tasks = []
    for i, item in enumerate(prompts):
        for j, st in enumerate(settings):
            label = label_of(st)
            err = None
            try:
                w = apply_setting(set_prompt(wf, item, prompt_node), st)
            except TaskError as e:
                w, err = None, str(e)
            pid = str(item.get("id", i))
            key = f"p{slug(pid, 20)}_s{j:02d}_{digest([item, st, wf])}"
            if w is not None:
                add_winner_save(w, key)
            tasks.append(Task(key=key, workflow=w, prompt_index=i, prompt=item["prompt"], setting=st, label=label,
                              fetch=(SAVE_NODE,), meta={"id": pid, **({"error": err} if err else {})}))
    return tasks


# -- the output folder ------------------------------------------------------------------------------
def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class OutputFolder:
    """``results.jsonl`` (one line per finished task, written last), ``images/KEY.png`` (the winner),
    ``reports/KEY.json`` (the search report). A task whose line is in results.jsonl is done; a rerun
    skips it. Files are written under their final name by rename, so an interrupted write leaves
    no half file, and a task that died before its line is simply redone (same names)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("images", "reports"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.results = self.root / "results.jsonl"

    def rows(self) -> List[Dict[str, Any]]:
        if not self.results.exists():
            return []
        out = []
        for line in self.results.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line cut by a hard kill: the task is redone
                continue
        return out

    def done(self, retry_errors: bool = False) -> Dict[str, Dict[str, Any]]:
        return {r["key"]: r for r in self.rows() if not (retry_errors and r.get("status") != "ok")}

    def write(self, row: Dict[str, Any], image: Optional[bytes] = None,
              report: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        key = row["key"]
        if image is not None:
            _atomic_write(self.root / "images" / f"{key}.png", image)
            row["image"] = f"images/{key}.png"
        if report is not None:
            _atomic_write(self.root / "reports" / f"{key}.json", json.dumps(report, indent=1).encode())
            row["report"] = f"reports/{key}.json"
        line = json.dumps(row) + "\n"
        with open(self.results, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return row
