"""The README's demo command runs: a real host, the default example workflow on the tiny
checkpoint, and the winner, the candidate grid and the report written out."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.host
ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_winner_grid_and_report(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "== noise search demo" in r.stdout and "<- best" in r.stdout
    report = json.loads((out / "report.json").read_text())
    n = len(report["candidates"])
    assert n >= 2 and report["best"]["seed"] is not None
    best = Image.open(out / "best.png")
    grid = Image.open(out / "candidates.png")
    cols = min(4, n)
    assert grid.size == (best.size[0] * cols, best.size[1] * ((n + cols - 1) // cols))
