"""Installing the pack's requirements next to an existing torch must never replace that torch
(users run ComfyUI on their own CUDA/ROCm build; a replaced torch breaks their install)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_requirements_never_name_torch():
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(line.split(";")[0].replace(">", "=").replace("<", "=").split("=")[0].strip().lower())
    assert names, "requirements.txt lists nothing"
    for banned in ("torch", "torchvision", "torchaudio", "image-reward", "image_reward"):
        assert banned not in names, f"requirements.txt must not list {banned}"


def test_pip_resolves_requirements_without_touching_torch():
    """A dry-run install (pip's resolver, against the package index) next to the installed CPU torch."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
                        "--report", "-", "-r", str(ROOT / "requirements.txt")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    start = r.stdout.find("{")
    report = json.loads(r.stdout[start:])
    touched = sorted(item["metadata"]["name"].lower() for item in report.get("install", []))
    assert not any(n in ("torch", "torchvision", "torchaudio") or n.startswith("nvidia-") for n in touched), touched
