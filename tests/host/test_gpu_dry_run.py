"""The GPU run's dry run (bench/gpu/run.py --dry-run): the command that travels to the GPU machine runs
end to end here, on the CPU with tiny sizes, so that what travels is tested before it travels.

It builds a checkpoint with the same builder as the GPU run (tiny UNet), checks the SD1.5 and SDXL
layouts the host detects (meta device), starts a real server with the packages the GPU bundle leaves
out blocked, runs every bench step and the test step, and writes results.json + summary.md."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

ROOT = Path(__file__).resolve().parents[2]
#: every figure the issue asks for, per model (the dry run's model is the tiny one)
HEADLINE = ["overhead_vs_ksampler_decode", "batched_speedup_n2", "batched_vs_one_by_one_max_score_diff",
            "batched_vs_one_by_one_same_scores", "peak_search_vs_larger_alone", "verifier_ms_per_image", "nfe_ms",
            "verifier_per_image_in_nfe"] + [f"{k}_{s}" for s in ("euler", "euler_ancestral", "dpmpp_2m_sde_gpu")
                                            for k in ("rerender_identical", "batched_winner_max_abs_diff")]
STEPS = ["install", "unpack", "checkpoints:tiny", "checkpoints:clip", "server", "tiny:overhead", "tiny:batching",
         "tiny:bits", "tiny:parity", "tiny:verifier", "tiny:memory", "tests"]


def _finite(x):
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return True
    if isinstance(x, (int, float)):
        return math.isfinite(x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return all(_finite(v) for v in x)
    return True


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_dry_run")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OUT", None)
    cp = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu" / "run.py"), "--dry-run", "--out", str(out)],
                        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=600)
    assert (out / "results.json").exists(), cp.stdout[-4000:] + cp.stderr[-4000:]
    return cp, json.loads((out / "results.json").read_text()), (out / "summary.md").read_text()


def test_every_step_ran_or_says_why_not(dry_run):
    cp, res, _ = dry_run
    status = {s["name"]: s["status"] for s in res["steps"]}
    assert res["mode"] == "dry-run"
    assert list(status) == STEPS, status
    for name, st in status.items():
        if name in ("install", "unpack"):  # no bundle here, or the test host instead of the tarball
            assert st == "ok" or st.startswith("skipped (dry run"), (name, st)
        else:
            assert st == "ok", (name, st, next((s.get("traceback") for s in res["steps"] if s["name"] == name), ""))
    assert cp.returncode == 0, cp.stdout[-3000:]


def test_every_figure_is_there_and_finite(dry_run):
    _, res, _ = dry_run
    head = res["headline"]["tiny"]
    missing = [k for k in HEADLINE if k not in head]
    assert not missing, missing
    assert _finite(res["figures"]), res["figures"]
    for k in HEADLINE:
        v = head[k]
        assert isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0), (k, v)
    f = res["figures"]["tiny"]
    assert f["checkpoint"]["detected"] == "SD15"
    assert f["checkpoint"]["layout_checks"] == {"sd15": "SD15", "sdxl": "SDXL"}
    # equal NFE: the search ran N × steps model evaluations, as the N stock KSamplers did
    assert all(r["equal_nfe"] for r in f["batching"]["rows"]), f["batching"]["rows"]
    # the CPU default runs the model row by row: the winner is a stock KSampler's latent, bit for bit
    for s, r in f["parity"]["samplers"].items():
        assert r["rerender_identical"] and r["batched_identical"], (s, r)
    assert res["tests"]["counts"].get("passed", 0) >= 1 and not res["tests"]["counts"].get("failed")


def test_summary_names_each_step_with_its_status(dry_run):
    _, res, summary = dry_run
    for s in res["steps"]:
        assert f"| {s['name']} | {s['status'].splitlines()[0][:160]} |" in summary, s["name"]
    for k in HEADLINE:
        assert f"| tiny | {k} |" in summary, k
