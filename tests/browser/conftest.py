"""Browser fixtures: one real ComfyUI server with this pack (scripts/host.py, its own base
directory) and headless Debian Chromium driven by Playwright (never a downloaded browser)."""
import os
from pathlib import Path

import pytest

from scripts.host import ComfyHost, HostError, prepare_base_dir

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("NOISE_SEARCH_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="session")
def ui_host(tmp_path_factory):
    base = prepare_base_dir(tmp_path_factory.mktemp("comfy_ui_base"))
    try:
        host = ComfyHost.start(base)
    except HostError as e:
        pytest.fail(f"the ComfyUI host did not start with this pack: {e}", pytrace=False)
    yield host
    host.stop()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "comfyui-browser-host.log").write_text(host.log())


@pytest.fixture(scope="session")
def browser():
    import playwright.sync_api as pw  # a dev requirement: missing it must fail, not skip
    from scripts.make_ui_workflows import CHROMIUM, launch_browser
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set $CHROMIUM)")
    with pw.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class ConsoleLog:
    """Every console message and uncaught page error of one page."""

    def __init__(self, page):
        self.messages = []
        page.on("console", lambda m: self.messages.append((m.type, m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e), "")))

    def errors(self):
        return [m for m in self.messages if m[0] in ("error", "pageerror")]


@pytest.fixture
def comfy_page(browser, ui_host):
    """A fresh page on the ComfyUI frontend, with the app loaded, and its console log."""
    from scripts.make_ui_workflows import open_comfy
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    log = ConsoleLog(page)
    open_comfy(page, ui_host)
    yield page, log
    ctx.close()
