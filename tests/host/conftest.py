"""Host fixtures: one real ComfyUI server for the whole session (``main.py --cpu`` on a free loopback
port, its own base directory in a temp dir, the tiny SD1.5-layout checkpoint, this pack linked in)."""
import json
import os
from pathlib import Path

import pytest

from scripts.host import ComfyHost, HostError, prepare_base_dir
from tests.tiny_flux import install as install_tiny_flux

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("NOISE_SEARCH_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="session")
def comfy_base(tmp_path_factory):
    base = prepare_base_dir(tmp_path_factory.mktemp("comfy_base"))
    # test-only nodes and tiny FLUX models: for the test server only, never part of the pack
    (base / "custom_nodes" / "noise_search_test_pack").symlink_to(ROOT / "tests" / "host" / "test_pack")
    (base / "custom_nodes" / "noise_search_test_probes").symlink_to(Path(__file__).parent / "probe_nodes")
    install_tiny_flux(base)
    return base


@pytest.fixture(scope="session")
def comfy(comfy_base):
    try:
        host = ComfyHost.start(comfy_base)
    except HostError as e:
        pytest.fail(f"the ComfyUI host did not start with this pack: {e}", pytrace=False)
    yield host
    host.stop()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "comfyui-host.log").write_text(host.log())


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def load_workflow(name):
    return json.loads((ROOT / "example_workflows" / name).read_text())
