"""The oldest supported transformers / huggingface_hub / safetensors / open_clip (issue 17, item 11).

scripts/floor-deps.txt pins the lower bounds of requirements.txt and requirements-dev.txt;
scripts/setup_host.sh installs them into .host/floor-deps and the fourth pass of scripts/test.sh
runs the unit and verifier host tests with that folder first on PYTHONPATH and
``NOISE_SEARCH_DEPS=floor``. Here: the pins are the declared bounds, they resolve together on this
Python, and a run on the floor really imports the floor releases (elsewhere, the running releases
lie in the declared ranges)."""
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: distribution -> the module whose __version__ must agree (None: the distribution's metadata only)
MODULES = {"transformers": "transformers", "huggingface_hub": "huggingface_hub", "safetensors": "safetensors",
           "tokenizers": "tokenizers", "open_clip_torch": None}


def _norm(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def floor_pins():
    pins = {}
    for line in (ROOT / "scripts" / "floor-deps.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, v = line.split("==")
            pins[_norm(name)] = v.strip()
    return pins


def declared():
    """{name: (lower, upper or None)} from the requirement files (only lines with a lower bound)."""
    out = {}
    for f in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)(?:\s*,\s*<\s*([0-9][^,;\s]*))?", line)
            if m:
                out[_norm(m.group(1))] = (m.group(2), m.group(3))
    return out


def _v(s):
    return tuple(int(p) for p in re.findall(r"\d+", s)[:3])


def test_floor_pins_are_the_declared_lower_bounds():
    pins, bounds = floor_pins(), declared()
    for name in ("transformers", "huggingface_hub", "safetensors", "open_clip_torch"):
        assert name in bounds, f"{name}: no lower bound in the requirements"
        assert pins.get(name) == bounds[name][0], (name, pins.get(name), bounds[name])
    assert bounds["transformers"][1] is not None, "transformers: the tested range needs an upper bound"


def test_floor_pins_resolve_together_on_this_python():
    """They are installed without dependencies, so check once with pip's resolver that they (and
    tokenizers) are one consistent set here, next to the installed torch."""
    cons = Path(os.environ.get("NOISE_SEARCH_HOST", ROOT / ".host")) / "constraints.txt"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--disable-pip-version-check", "--report", "-", "-r", str(ROOT / "scripts" / "floor-deps.txt"),
                        *(["-c", str(cons)] if cons.is_file() else [])],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout[r.stdout.find("{"):])
    got = {_norm(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}
    for name, v in floor_pins().items():
        assert got.get(name) == v, (name, got.get(name), v)


def test_running_releases_are_the_floor_in_the_floor_pass_else_in_range():
    import importlib
    floor = os.environ.get("NOISE_SEARCH_DEPS", "") == "floor"
    bounds = declared()
    for name, pin in floor_pins().items():
        got = version(name)
        if MODULES[name]:
            mod = importlib.import_module(MODULES[name])
            assert mod.__version__ == got, (name, mod.__version__, got, mod.__file__)
        if floor:
            assert got == pin, f"the floor pass runs {name} {got}, not the floor {pin} (is .host/floor-deps first on PYTHONPATH?)"
        elif name in bounds:
            lo, hi = bounds[name]
            assert _v(got) >= _v(lo) and (hi is None or _v(got) < _v(hi)), (name, got, bounds[name])
