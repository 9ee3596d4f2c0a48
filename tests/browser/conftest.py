"""Browser fixtures: one real ComfyUI server with this pack (scripts/host.py, its own base
directory) and headless Debian Chromium driven by Playwright (never a downloaded browser), both for
the whole session. Each node-rendering mode the frontend has (classic canvas, Nodes 2.0) gets one
page, shared by the tests of that mode: loading the ComfyUI page costs seconds on a small machine."""
import os
from pathlib import Path

import pytest

from scripts.host import FRONTEND, ComfyHost, HostError, prepare_base_dir

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("NOISE_SEARCH_ARTIFACTS", ROOT / "test-artifacts"))
#: this pack's web directory as the frontend serves it (stack frames from our extension name it)
OUR_JS = "/extensions/comfyui-noise-search/"
#: the setting that turns Nodes 2.0 (Vue-rendered nodes) on: the same id in 1.32.9, 1.48.7 and 1.58.1
NODES2_SETTING = "Comfy.VueNodes.Enabled"


def frontend_version() -> tuple:
    """The served frontend's version: NOISE_SEARCH_FRONTEND, or the package the core pins."""
    if FRONTEND:
        v = FRONTEND
    else:
        from importlib.metadata import version
        v = version("comfyui_frontend_package")
    return tuple(int(x) for x in v.split(".")[:3])


def frontend_modes() -> list:
    """The node-rendering modes of this frontend. Nodes 2.0 shipped as an opt-in in 1.32 (the floor
    core's pin, the oldest frontend tested); subgraphs with promoted widgets are in every tested
    version too. An older frontend has only the classic canvas: it runs the classic tests, and no
    Nodes 2.0 test is generated for it (nothing to skip)."""
    return ["classic", "nodes2"] if frontend_version() >= (1, 32) else ["classic"]


def pytest_generate_tests(metafunc):
    if "ui_mode" in metafunc.fixturenames:
        metafunc.parametrize("ui_mode", frontend_modes(), scope="session")


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
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set $CHROMIUM)", pytrace=False)
    with pw.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class ConsoleLog:
    """Every console message and uncaught page error of one page, and for each console call the
    URLs of its JS stack (from Chromium's DevTools protocol), so that a message is traced to this
    pack's extension even when the frontend prints it (litegraph's deprecation warnings are printed
    from litegraph's own code while our code is on the stack). ``mark()`` starts a test's share of
    a shared page."""

    def __init__(self, page):
        self.page = page
        self.messages = []
        self.calls = []  # (level, text, [frame urls])
        self._start = self._calls_start = 0
        page.on("console", lambda m: self.messages.append((m.type, m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e) + "\n" + (e.stack or ""), "")))
        cdp = page.context.new_cdp_session(page)
        cdp.on("Runtime.consoleAPICalled", self._on_call)
        cdp.send("Runtime.enable")
        self._cdp = cdp

    def _on_call(self, ev):
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in ev.get("args", []))
        frames, st = [], ev.get("stackTrace")
        while st:  # the synchronous frames, then the async parents
            frames += [f.get("url", "") for f in st.get("callFrames", [])]
            st = st.get("parent")
        self.calls.append((ev.get("type"), text, frames))

    def mark(self):
        self._start, self._calls_start = len(self.messages), len(self.calls)

    def since(self):
        return self.messages[self._start:]

    def errors(self):
        return [m for m in self.since() if m[0] in ("error", "pageerror")]

    def ours(self):
        """Warnings and errors printed with this pack's extension on the JS stack, and uncaught
        errors thrown from it."""
        calls = [c for c in self.calls[self._calls_start:]
                 if c[0] in ("warning", "error", "assert", "trace") and any(OUR_JS in u for u in c[2])]
        thrown = [m for m in self.errors() if m[0] == "pageerror" and OUR_JS in m[1]]
        return calls + thrown


@pytest.fixture(scope="session")
def mode_page(browser, ui_host, ui_mode):
    """One page per rendering mode: the mode is the user's setting, stored on the server before the
    page loads (as a user who switched it and reloaded)."""
    from scripts.make_ui_workflows import open_comfy
    ui_host.post(f"/api/settings/{NODES2_SETTING}", ui_mode == "nodes2")
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    log = ConsoleLog(page)
    open_comfy(page, ui_host)
    on = page.evaluate(f"() => app.extensionManager.setting.get('{NODES2_SETTING}') ?? false")
    assert on == (ui_mode == "nodes2"), f"{NODES2_SETTING} is {on} in mode {ui_mode}"
    yield page, log
    ctx.close()


@pytest.fixture
def comfy_page(mode_page, ui_mode):
    """The mode's page with the app loaded, an empty graph, and the console log of this test (the
    first test of a page also gets the page's start-up messages)."""
    page, log = mode_page
    if getattr(log, "used", False):
        log.mark()
    log.used = True
    page.evaluate("() => { app.canvas.setGraph?.(app.graph); app.graph.clear(); }")
    yield page, log
