"""The test bed assembled: trained models by name, a Denoiser for (model, class, steps, verifier), and
the metrics. ``Bed.load()`` trains what is not cached yet (see README.md for the times)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Optional

import torch

from . import nets
from .denoiser import DigitsDenoiser
from .metrics import Metrics
from .train import ClassifierSpec, DenoiserSpec, classifier_net, denoiser_net

UNDERTRAINED = 300  # steps of the large model's early snapshot
#: model name -> (spec, snapshot)
MODELS = {
    "small": (DenoiserSpec(width=96, depth=2, steps=4000), "final"),
    "large": (DenoiserSpec(width=256, depth=3, steps=4000, snapshots=(UNDERTRAINED,)), "final"),
    "large_undertrained": (DenoiserSpec(width=256, depth=3, steps=4000, snapshots=(UNDERTRAINED,)),
                           f"step{UNDERTRAINED}"),
}
SEARCH_CLF = ClassifierSpec(half="A", seed=1)
EVAL_CLF = ClassifierSpec(half="B", seed=2)
#: a reduced bed for tests: same code, few training steps
REDUCED = {"denoiser": DenoiserSpec(width=64, depth=2, steps=300, batch=64), "classifier_steps": 150}


@dataclass
class Bed:
    nets: Dict[str, torch.nn.Module]
    search_clf: torch.nn.Module
    eval_clf: torch.nn.Module
    metrics: Metrics

    @classmethod
    def load(cls, reduced: bool = False) -> "Bed":
        if reduced:
            models = {"model": (REDUCED["denoiser"], "final")}
            sc = replace(SEARCH_CLF, steps=REDUCED["classifier_steps"])
            ec = replace(EVAL_CLF, steps=REDUCED["classifier_steps"])
        else:
            models, sc, ec = MODELS, SEARCH_CLF, EVAL_CLF
        eval_clf = classifier_net(ec)
        return cls({k: denoiser_net(s, snap) for k, (s, snap) in models.items()}, classifier_net(sc), eval_clf,
                   Metrics(eval_clf))

    def denoiser(self, model: str = "large", y=0, steps: int = 8, verifier: str = "logit",
                 mid_sigma: float = 0.4) -> DigitsDenoiser:
        """A :class:`search.protocol.Denoiser` for class ``y`` (an int, or one label per row for
        plain sampling), EDM Heun with ``steps`` steps (2 * steps - 1 NFE a sample)."""
        if model not in self.nets:
            raise KeyError(f"model must be one of {sorted(self.nets)}, got {model!r}")
        return DigitsDenoiser(self.nets[model], y, steps, verifier, self.search_clf, self.eval_clf, mid_sigma)

    def flops_per_nfe(self, model: str) -> int:
        return nets.flops_per_nfe(self.nets[model])
