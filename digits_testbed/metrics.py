r"""Sample quality and diversity, measured with the *evaluation* classifier (trained on held-out half
B) and against the held-out images of half B.

    FID        Frechet distance between Gaussians fitted to the evaluation classifier's penultimate
               features of the samples and of half B:
               |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
    IS         exp E_x KL(p(c|x) || p(c)), p(c|x) the evaluation classifier's softmax
    accuracy   how often the evaluation classifier's argmax is the conditioned class
    spread     within-class diversity without any classifier: mean pairwise pixel distance of the
               samples of each class over that of half B's images of the class (1 = as diverse as
               the data), averaged over classes
    precision / recall   k-NN manifolds in pixel space, per class (Kynkaanniemi et al. 2019, k = 3):
               precision = share of samples inside the real images' k-NN balls, recall = share of
               real images inside the samples' k-NN balls; averaged over classes. Recall falls when
               diversity collapses.
"""
from __future__ import annotations

from typing import Dict

import torch

from .data import CLASSES, DIM, half


def frechet(f1: torch.Tensor, f2: torch.Tensor) -> float:
    f1, f2 = f1.double(), f2.double()
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = torch.cov(f1.T), torch.cov(f2.T)
    ev, U = torch.linalg.eigh(s1)
    r1 = U @ torch.diag(ev.clamp(min=0).sqrt()) @ U.T
    cross = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp(min=0).sqrt().sum()
    return float((m1 - m2).pow(2).sum() + s1.trace() + s2.trace() - 2 * cross)


def inception_score(p: torch.Tensor) -> float:
    p = p.double().clamp(min=1e-12)
    return float(torch.exp((p * (p.log() - p.mean(0, keepdim=True).log())).sum(1).mean()))


def knn_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def precision_recall(gen: torch.Tensor, real: torch.Tensor, k: int = 3):
    d = torch.cdist(gen, real)
    precision = (d <= knn_radius(real, k)[None, :]).any(1).double().mean()
    recall = (d.T <= knn_radius(gen, k)[None, :]).any(1).double().mean()
    return float(precision), float(recall)


class Metrics:
    def __init__(self, eval_clf, k: int = 3):
        self.clf, self.k = eval_clf, k
        self.real, self.real_y = half("B")
        with torch.no_grad():
            self.real_feat = eval_clf.features(self.real)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Dict[str, float]:
        """Metrics of samples ``x`` [N, 64] (any shape with 64 per row) conditioned on labels ``y``."""
        x = x.reshape(x.shape[0], DIM).clamp(-1, 1).float()
        y = torch.as_tensor(y).reshape(-1)
        feat = self.clf.features(x)
        p = self.clf.head(feat).softmax(-1)
        spread, prec, rec = [], [], []
        for c in range(CLASSES):
            g, r = x[y == c], self.real[self.real_y == c]
            if len(g) < self.k + 1:
                continue
            spread.append(float(torch.pdist(g.double()).mean() / torch.pdist(r.double()).mean()))
            pr = precision_recall(g, r, self.k)
            prec.append(pr[0])
            rec.append(pr[1])
        mean = lambda v: sum(v) / len(v) if v else float("nan")  # noqa: E731
        return {"fid": frechet(feat, self.real_feat), "is": inception_score(p),
                "accuracy": float((p.argmax(-1) == y).double().mean()),
                "spread": mean(spread), "precision": mean(prec), "recall": mean(rec), "n": int(x.shape[0])}
