"""The GPU bundle's list (bench/gpu/bundle-requirements.txt) against the host it carries: every
requirement of ComfyUI v0.33.0 and of this pack is on the device image, in the bundle, or left out on
purpose, and every bundle pin is the version the test host runs (so the GPU run uses what the suite
tests). Fails when the host's requirements change until the bundle follows."""
import re
from importlib import metadata
from pathlib import Path

import pytest

from bench.gpu.run import LEFT_OUT_PACKAGES, ON_DEVICE
from scripts.host import HOST

ROOT = Path(__file__).resolve().parents[2]


def _name(line: str) -> str:
    return re.split(r"[<>=~!\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _reqs(path: Path):
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]


def bundle_pins():
    return {_name(ln): ln.split("==", 1)[1].strip() for ln in _reqs(ROOT / "bench" / "gpu" / "bundle-requirements.txt")}


def test_every_requirement_is_on_the_device_in_the_bundle_or_left_out_on_purpose():
    comfy_reqs = HOST / "ComfyUI" / "requirements.txt"
    if not comfy_reqs.exists():
        pytest.fail(f"no {comfy_reqs}: run `bash scripts/setup_host.sh` first", pytrace=False)
    names = {_name(ln) for ln in _reqs(comfy_reqs) + _reqs(ROOT / "requirements.txt")}
    pins = bundle_pins()
    unplaced = sorted(n for n in names if n not in ON_DEVICE | LEFT_OUT_PACKAGES | set(pins))
    assert not unplaced, f"requirements neither on the device image, in the bundle nor left out: {unplaced}"
    assert not (set(pins) & (ON_DEVICE | LEFT_OUT_PACKAGES))


def test_bundle_pins_are_the_test_hosts_versions():
    wrong = {}
    for name, version in bundle_pins().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have != version:
            wrong[name] = (version, have)
    assert not wrong, f"bundle pin vs the test host's version: {wrong}"
