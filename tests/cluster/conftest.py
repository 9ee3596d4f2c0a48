"""One embedded Ray instance (127.0.0.1 only) with two CPU ComfyUI servers on the tiny checkpoint,
shared by every test of this folder; Ray and the servers are shut down at the end of the session."""
import os
import shutil
from pathlib import Path

import pytest

try:
    import ray  # noqa: F401
except ImportError:  # scripts/setup_host.sh installs it; a missing Ray is a broken setup, not a skip
    raise ImportError("the cluster tests need Ray: bash scripts/setup_host.sh, or "
                      "pip install -r cluster/requirements.txt") from None

from cluster import workers  # noqa: E402
from scripts.host import COMFY, VENV_PY, prepare_base_dir  # noqa: E402


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    return prepare_base_dir(tmp_path_factory.mktemp("cluster_base"))


@pytest.fixture(scope="session")
def pool(tiny_base, tmp_path_factory):
    state = tmp_path_factory.mktemp("cluster_state")
    ray_tmp = Path("/tmp") / f"ns_ray_{os.getpid()}"  # short: Ray's socket paths must stay under 108 bytes
    r = workers.start_ray(None, num_cpus=2, num_gpus=0, temp_dir=str(ray_tmp))
    spec = {"base_dir": str(tiny_base), "comfy": str(COMFY), "python": str(VENV_PY), "cpu": True,
            "state_root": str(state)}
    try:
        p = workers.make_workers(r, servers=2, spec=spec, own_ray=True)
    except BaseException:
        r.shutdown()
        raise
    yield p
    p.close()
    shutil.rmtree(ray_tmp, ignore_errors=True)
