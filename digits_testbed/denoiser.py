r"""The trained model behind :class:`search.protocol.Denoiser`, so every strategy in ``search/`` runs
on it unchanged.

The solver, schedule, counters and re-noising are those of the analytic bed
(:class:`tests.analytic.AnalyticDenoiser`, "ve" parameterisation, EDM Heun: 2 NFE a step, 1 on the
last), with its "network" attribute ``x0_model`` replaced by the trained D(x, sigma, y) for one
class y, on the EDM Karras schedule (sigma 80 .. 0.002, rho = 7). States are flat [B, 64] in [-1, 1].

Verifiers (``score``; samples are clamped to [-1, 1] first, as an image pipeline would):
    "logit"            the search classifier's logit of class y (supervised; trained on half A)
    "self_supervised"  cosine similarity of the search classifier's penultimate features of the
                       x0 prediction at the schedule index nearest sigma = ``mid_sigma`` (0.4, as the
                       paper) and of the final sample (``mid_index`` is that index)
    "oracle"           the evaluation classifier's logit of class y (trained on held-out half B):
                       for reporting only, never for a search that is then evaluated
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from tests.analytic import AnalyticDenoiser, karras_sigmas

from .data import DIM

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
VERIFIERS = ("logit", "self_supervised", "oracle")


def nearest_index(sigmas: torch.Tensor, sigma: float) -> int:
    s = sigmas[:-1].double()
    return int((s.log() - math.log(sigma)).abs().argmin())


class DigitsDenoiser(AnalyticDenoiser):
    def __init__(self, net, y, steps: int = 10, verifier: str = "logit", search_clf=None, eval_clf=None,
                 mid_sigma: float = 0.4):
        if verifier not in VERIFIERS:
            raise ValueError(f"verifier must be one of {VERIFIERS}, got {verifier!r}")
        super().__init__("ve", steps=steps, solver="heun")
        self.sigmas = karras_sigmas(self.steps, SIGMA_MIN, SIGMA_MAX)
        self.latent_shape = (DIM,)
        self.net, self.y = net, y
        self.verifier = verifier
        self.search_clf, self.eval_clf = search_clf, eval_clf
        self.mid_index = nearest_index(self.sigmas, mid_sigma) if verifier == "self_supervised" else None
        self.x0_model = self.D

    def labels(self, rows: int) -> torch.Tensor:
        y = torch.as_tensor(self.y, dtype=torch.long).reshape(-1)
        return y.expand(rows) if y.numel() == 1 else y

    @torch.no_grad()
    def D(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], DIM), sigma, self.labels(x.shape[0])).reshape(x.shape)

    @torch.no_grad()
    def score(self, x0: torch.Tensor, mid_x0: Optional[torch.Tensor] = None) -> torch.Tensor:
        self.verifier_calls += x0.shape[0]
        x = x0.reshape(x0.shape[0], DIM).clamp(-1, 1)
        rows = torch.arange(x.shape[0])
        if self.verifier == "logit":
            return self.search_clf(x)[rows, self.labels(x.shape[0])]
        if self.verifier == "oracle":
            return self.eval_clf(x)[rows, self.labels(x.shape[0])]
        if mid_x0 is None:
            raise ValueError("the self_supervised verifier needs mid_x0 (mid_index is set)")
        m = mid_x0.reshape(x.shape).clamp(-1, 1)
        return F.cosine_similarity(self.search_clf.features(m), self.search_clf.features(x), dim=-1)

    def true_score(self, x0: torch.Tensor) -> torch.Tensor:
        """The oracle score (evaluation classifier's logit of y); counts no verifier call."""
        x = x0.reshape(x0.shape[0], DIM).clamp(-1, 1)
        with torch.no_grad():
            return self.eval_clf(x)[torch.arange(x.shape[0]), self.labels(x.shape[0])]
