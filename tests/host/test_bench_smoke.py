"""The benchmarks cannot rot: ``bench/run_all.py --smoke`` runs every CPU benchmark with tiny
budgets (its own servers, outputs in a temp dir) and every JSON it names must exist with finite
numbers; the DrawBench harness runs end to end against the session's server (``comfy`` fixture)
with tiny random-weight verifiers, two prompts, and resumes without redoing them. No timing is
asserted."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.host_common import finite  # noqa: E402


def _env(out: Path):
    return {**os.environ, "NOISE_SEARCH_BENCH_OUT": str(out), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_run_all_smoke_writes_finite_json(tmp_path, artifacts):
    p = subprocess.run([sys.executable, "bench/run_all.py", "--smoke"], cwd=str(ROOT), env=_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    (artifacts / "bench-smoke.log").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    summary = json.loads((tmp_path / "smoke" / "run_all.json").read_text())
    assert set(summary["benchmarks"]) == {"scaling", "hacking", "verifier_cost", "overhead", "batching", "memory"}
    for name, rel in summary["json"].items():
        path = Path(rel) if os.path.isabs(rel) else ROOT / rel
        assert path.exists(), f"{name}: {path} missing"
        data = json.loads(path.read_text())
        assert finite(data), f"{name}: non-finite number in {path}"
        assert path.with_suffix(".png").exists(), f"{name}: no plot"
    ov = json.loads((tmp_path / "smoke" / "overhead_smoke.json").read_text())
    assert ov["ratio"]["search_vs_ksampler_decode"] > 0
    assert ov["settings"]["search_nfe"] == ov["settings"]["ksampler_nfe"], "overhead must compare equal NFE"
    bt = json.loads((tmp_path / "smoke" / "batching_smoke.json").read_text())
    for r in bt["results"]:
        assert r["nfe"]["batched"] == r["nfe"]["one_by_one"] and r["same_winner"]
        assert r["max_score_diff"] < 1e-4
    vc = json.loads((tmp_path / "smoke" / "verifier_cost_smoke.json").read_text())
    eq = {r["name"]: r["nfe_eq"]["SD1.5 512² (CFG)"] for r in vc["verifiers"]}
    assert 0.01 < eq["CLIPScore (CLIP ViT-L/14)"] < 1, eq  # ~0.1 NFE: ViT-L/14 vs two SD1.5 UNet forwards
    assert eq["Sharpness (weight-free)"] == 0
    mem = json.loads((tmp_path / "smoke" / "memory_smoke.json").read_text())
    assert all(s["peak_mb"] > 0 for s in mem["settings"].values())


def test_drawbench_harness_end_to_end_and_resumes(comfy, tmp_path):
    cmd = [sys.executable, "bench/drawbench.py", "--url", comfy.url, "--tiny", "--limit", "2", "--configs", "1", "2",
           "--search-verifier", "clip", "--out", str(tmp_path / "db")]
    p = subprocess.run(cmd, cwd=str(ROOT), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    rows = [json.loads(ln) for ln in (tmp_path / "db" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["prompt_index"], r["config"]) for r in rows) == [(0, "1"), (0, "2"), (1, "1"), (1, "2")]
    summ = json.loads((tmp_path / "db" / "summary.json").read_text())
    assert set(summ["table"]) == {"1", "2"} and finite(summ)
    for c, s in summ["table"].items():
        assert {"Aesthetic", "CLIPScore", "ImageReward", "LLM grader"} <= set(s)
    assert summ["table"]["2"]["mean_nfe"] == 2 * summ["table"]["1"]["mean_nfe"]
    table = (tmp_path / "db" / "table.md").read_text()
    assert "| search configuration |" in table and "no search (N=1)" in table
    # a rerun skips what is done
    p2 = subprocess.run(cmd, cwd=str(ROOT), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert p2.returncode == 0, p2.stderr[-3000:]
    assert len((tmp_path / "db" / "results.jsonl").read_text().splitlines()) == 4
