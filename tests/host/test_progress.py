"""Progress as a user sees it: ComfyUI's progress bar runs over the search's NFE budget with latent
previews, and our per-candidate events feed the UI — read from the server's own websocket."""
import asyncio
import concurrent.futures
import json

import aiohttp
import pytest

from scripts.host import ComfyHost, prepare_base_dir
from tests.host import workflows as W

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def comfy_previews(tmp_path_factory):
    """A server with latent previews on (ComfyUI's default sends none, for stock samplers too)."""
    host = ComfyHost.start(prepare_base_dir(tmp_path_factory.mktemp("previews")),
                           extra_args=["--preview-method", "latent2rgb"])
    yield host
    host.stop()


async def _watch(comfy, workflow, timeout=300):
    msgs, previews = [], 0
    url = f"ws://127.0.0.1:{comfy.port}/ws?clientId={comfy.client_id}"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            pid = await asyncio.to_thread(comfy.queue, workflow)
            async with asyncio.timeout(timeout):
                async for m in ws:
                    if m.type == aiohttp.WSMsgType.BINARY:
                        previews += 1
                        continue
                    d = json.loads(m.data)
                    msgs.append(d)
                    if d["type"] == "executing" and d["data"].get("node") is None \
                            and d["data"].get("prompt_id") == pid:
                        break
                    if d["type"] in ("execution_error", "execution_interrupted"):
                        raise AssertionError(d)
    return msgs, previews


def test_progress_bar_counts_nfe_with_previews_and_candidate_events(comfy_previews):
    comfy = comfy_previews
    wf = W.search(W.base(prompt="progress test"), 90, W.color_verifier(), steps=4, candidates=3, max_batch=2,
                  prefix="progress")
    # on a thread of its own: the browser tests' Playwright may leave an event loop on this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        msgs, previews = pool.submit(lambda: asyncio.run(_watch(comfy, wf))).result()
    bars = [m["data"] for m in msgs if m["type"] == "progress" and m["data"].get("node") == "search"]
    assert bars, "no progress messages from the search node"
    assert all(b["max"] == 3 * 4 for b in bars), "the bar runs over the planned NFE budget"
    values = [b["value"] for b in bars]
    assert values == sorted(values) and values[-1] == 12 and len(set(values)) >= 3
    assert previews >= 2, "latent previews are sent while sampling"
    events = [m["data"] for m in msgs if m["type"] == "noise_search.progress"]
    assert [e["index"] for e in events] == [0, 1, 2] and [e["seed"] for e in events] == [90, 91, 92]
    assert [e["nfe"] for e in events] == [4, 8, 12] and all(e["node"] == "search" for e in events)
    best = [e["best"] for e in events]
    assert best == [max(e["score"] for e in events[:i + 1]) for i in range(3)]
    done = [m["data"] for m in msgs if m["type"] == "noise_search.done"]
    assert len(done) == 1 and len(done[0]["images"]) == 3 and done[0]["report"]["totals"]["nfe"] == 12
