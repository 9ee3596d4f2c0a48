"""Memory probe for bench/gpu/run.py, linked into the benchmark server's custom_nodes only (never
part of the pack): two routes that read the server process's own peak memory, which a client can
only sample from outside.

- ``POST /noise_search_bench/peak/reset``: synchronise, empty torch's cache, reset torch's peak
  statistics, and restart a 5 ms sampler of the device's used memory (``cudaMemGetInfo``: counts
  what bypasses torch's allocator too) and of the process's RSS;
- ``GET /noise_search_bench/peak``: the peaks since the last reset (bytes).
"""
import threading
import time

import torch
from aiohttp import web
from server import PromptServer

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}

_state = {"device_used": 0, "rss": 0, "gen": 0}


def _rss() -> int:
    try:
        import psutil
        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001
        return 0


def _device_used() -> int:
    if not torch.cuda.is_available():
        return 0
    free, total = torch.cuda.mem_get_info()
    return int(total - free)


def _sample(gen: int):
    while _state["gen"] == gen:
        try:
            _state["device_used"] = max(_state["device_used"], _device_used())
            _state["rss"] = max(_state["rss"], _rss())
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.005)


routes = PromptServer.instance.routes


@routes.post("/noise_search_bench/peak/reset")
async def _reset(request):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        try:
            torch.cuda.reset_peak_memory_stats()
        except Exception:  # noqa: BLE001 - the sampled device figure still holds
            pass
    _state["gen"] += 1
    _state["device_used"], _state["rss"] = _device_used(), _rss()
    threading.Thread(target=_sample, args=(_state["gen"],), daemon=True).start()
    return web.json_response({"ok": True})


@routes.get("/noise_search_bench/peak")
async def _peak(request):
    out = {"cuda": torch.cuda.is_available(), "rss_peak": _state["rss"], "device_used_peak": _state["device_used"]}
    if torch.cuda.is_available():
        out["device"] = torch.cuda.get_device_name(0)
        for key, read in (("allocated_peak", torch.cuda.max_memory_allocated),
                          ("reserved_peak", torch.cuda.max_memory_reserved), ("allocated", torch.cuda.memory_allocated)):
            try:  # some allocator back ends (cudaMallocAsync) keep fewer statistics
                out[key] = int(read())
            except Exception as e:  # noqa: BLE001
                out[key], out[f"{key}_error"] = None, str(e)[:200]
    return web.json_response(out)
