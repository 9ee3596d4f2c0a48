"""ComfyUI glue: the only package here that imports comfy. Nodes are V3 (``comfy_api.latest``),
one file per family:

- samplers.py    Noise Search Sampler (+ Advanced), Noise Candidates; the search body is search_run.py
- strategies.py  Search Strategy: Random / Zero-Order / Search over Paths / Particles
- verifier_nodes.py  the verifiers (loading helpers in verifier_loading.py, scoring in verifier_runtime.py)
- reports.py     Score Images, Noise Search Replay (+ Advanced), Save Search Report

The model side: comfy_denoiser.py (ComfyDenoiser: the search protocol over the host's guider and
sampler), model_calls.py (what happens inside one model call: NFE and FLOPs counted, rows split),
nfe_cost.py (planning NFE by probing the sampler), step_noise.py (per-row step noise), scoring.py.
"""
from comfy_api.latest import ComfyExtension

from . import reports, samplers, strategies, verifier_nodes

NODES = [*samplers.NODES, *strategies.NODES, *verifier_nodes.NODES, *reports.NODES]


class NoiseSearchExtension(ComfyExtension):
    async def get_node_list(self):
        return list(NODES)


async def comfy_entrypoint() -> NoiseSearchExtension:
    return NoiseSearchExtension()


def node_ids():
    return [n.GET_SCHEMA().node_id for n in NODES]
