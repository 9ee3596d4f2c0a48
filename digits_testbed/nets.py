r"""The networks: a class-conditional EDM denoiser D(x, sigma, y) and an MLP classifier.

Denoiser (Karras et al. 2022, "EDM" preconditioning), F a residual MLP:
    D(x, sigma, y) = c_skip x + c_out F(c_in x, c_noise, y)
    c_skip = sd^2 / (sigma^2 + sd^2),  c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),   c_noise = ln(sigma) / 4          (sd = sigma_data)
F: x -> Linear -> h; emb = Fourier(c_noise) MLP + Embedding(y); ``depth`` residual blocks
    h <- h + W2 SiLU(W1 LayerNorm(h) + E_b emb); out = Linear(SiLU(LayerNorm(h))).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .data import CLASSES, DIM


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.w1, self.e, self.w2 = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, h, emb):
        return h + self.w2(F.silu(self.w1(self.norm(h)) + self.e(emb)))


class EDMDenoiser(nn.Module):
    def __init__(self, width: int = 256, depth: int = 3, sigma_data: float = 0.5, fourier: int = 16):
        super().__init__()
        self.sigma_data = float(sigma_data)
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(64.0), fourier)), persistent=False)
        self.noise_mlp = nn.Sequential(nn.Linear(2 * fourier, width), nn.SiLU(), nn.Linear(width, width))
        self.label = nn.Embedding(CLASSES, width)
        self.inp = nn.Linear(DIM, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, DIM))

    def F(self, x, c_noise, y):
        a = c_noise[:, None] * self.freqs
        emb = self.noise_mlp(torch.cat([a.sin(), a.cos()], -1)) + self.label(y)
        h = self.inp(x)
        for b in self.blocks:
            h = b(h, emb)
        return self.out(h)

    def forward(self, x, sigma, y):
        """x [B, 64] at noise level sigma ([B] or scalar), labels y [B] -> x0 prediction [B, 64]."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(x.shape[0])
        sd2, s2 = self.sigma_data ** 2, sigma ** 2
        c_skip = sd2 / (s2 + sd2)
        c_out = sigma * self.sigma_data / (s2 + sd2).sqrt()
        c_in = 1 / (s2 + sd2).sqrt()
        return c_skip[:, None] * x + c_out[:, None] * self.F(c_in[:, None] * x, sigma.log() / 4, y)

    def loss_weight(self, sigma):
        return (sigma ** 2 + self.sigma_data ** 2) / (sigma * self.sigma_data) ** 2


class Classifier(nn.Module):
    """64 -> width -> features (penultimate, ``features``) -> 10 logits."""

    def __init__(self, width: int = 256, features: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(DIM, width), nn.SiLU(), nn.Linear(width, features), nn.SiLU())
        self.head = nn.Linear(features, CLASSES)

    def features(self, x):
        return self.body(x.reshape(x.shape[0], DIM))

    def forward(self, x):
        return self.head(self.features(x))


def flops_per_nfe(net: nn.Module) -> int:
    """Multiply-adds x 2 of every Linear layer for one row: the network's FLOPs per NFE."""
    return sum(2 * m.in_features * m.out_features for m in net.modules() if isinstance(m, nn.Linear))
