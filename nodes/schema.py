"""The V3 schema pieces every node file shares (``comfy_api.latest``): the pack's own socket types,
categories, and :func:`schema`, which gives a node's fields to ``io.Schema`` on both supported
hosts (0.3.75 and v0.33.0). Fields only the newer host knows (``search_aliases``) are passed only
where its ``io.Schema`` has them: the floor's dataclass would refuse an unknown keyword.
"""
from __future__ import annotations

import dataclasses

from comfy_api.latest import io

CATEGORY = "sampling/noise search"
VERIFIER_CATEGORY = "sampling/noise search/verifiers"

#: a configured search algorithm (search/*.py), made by the strategy nodes
Strategy = io.Custom("NS_STRATEGY")
#: a verifier bound to its prompt (nodes/verifier_runtime.BoundVerifier), made by the verifier nodes
Verifier = io.Custom("NS_VERIFIER")

_SCHEMA_FIELDS = {f.name for f in dataclasses.fields(io.Schema)}


def schema(**fields) -> io.Schema:
    """``io.Schema(**fields)`` without the fields this host's schema does not have."""
    return io.Schema(**{k: v for k, v in fields.items() if k in _SCHEMA_FIELDS})


def out(kind, name: str, tooltip: str, id_: str = None):
    """An output whose name is ``name`` on both hosts (the V1 ``RETURN_NAMES`` of earlier releases:
    a V3 output without a display name would be named after its type). ``id_``: its schema id where
    ``name`` is also an input's (the floor refuses an id shared by an input and an output; the name
    the frontend and saved workflows see is the display name)."""
    return kind.Output(id_ or name, display_name=name, tooltip=tooltip)


#: the seed widget. ``control_after_generate: True`` shows ComfyUI's control widget with
#: "randomize" selected on every tested frontend (1.32.9, 1.48.7, 1.58.1), so each run gets fresh
#: candidates. (A mode string such as "randomize" is read as the control widget's *name* by
#: frontends 1.32.9 and 1.48.7, so True is the portable spelling.) Candidate i is seed + i, so on the
#: search nodes web/noise_search.js makes "increment" / "decrement" move the seed by the number of
#: stock seeds a run uses (the strategy's count), and consecutive runs share no candidate.
SEED_MAX = 0xffffffffffffffff
SEED_TOOLTIP = ("Base seed: candidate i starts from the noise a stock KSampler draws for seed + i. 'control after "
                "generate': randomize (the default) tries fresh noises every run; increment / decrement move the "
                "seed by the run's candidates (random: candidates, paths: n, particles: particles, zero-order: 1), "
                "so the next run shares none of them; fixed re-runs the same search.")


def seed_input(tooltip: str = SEED_TOOLTIP) -> io.Int.Input:
    return io.Int.Input("seed", default=0, min=0, max=SEED_MAX, control_after_generate=True, tooltip=tooltip)
