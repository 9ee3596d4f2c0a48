"""The host harness itself: a pack that fails to import must fail the session, not pass silently."""
import pytest

from scripts.host import PACK_NAME, ComfyHost, HostError

pytestmark = pytest.mark.host


def test_import_failure_of_the_pack_is_detected(tmp_path):
    base = tmp_path / "base"
    pack = base / "custom_nodes" / PACK_NAME
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text("raise ImportError('deliberately broken pack for the harness test')\n")
    with pytest.raises(HostError, match="could not import"):
        ComfyHost.start(base, timeout=120)
