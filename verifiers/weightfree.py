"""Verifiers that need no weights: useful on their own and for testing search quality end to end.

- ``ColorTarget``: closeness of the image's mean colour to a target RGB colour.
- ``Brightness``: closeness of mean luminance to a target level.
- ``Sharpness``: mean magnitude of the image Laplacian (local contrast / detail).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch

from .base import Verifier

# Rec. 709 luma weights
LUMA = (0.2126, 0.7152, 0.0722)


def parse_color(color) -> torch.Tensor:
    """'#rrggbb', 'r,g,b' (0-255 or 0-1) or a 3-sequence → float tensor [3] in [0, 1]."""
    if isinstance(color, str):
        c = color.strip()
        if c.startswith("#") and len(c) == 7:
            return torch.tensor([int(c[i:i + 2], 16) / 255.0 for i in (1, 3, 5)])
        parts = [p for p in c.replace(" ", "").split(",") if p]
        if len(parts) != 3:
            raise ValueError(f"colour {color!r}: use '#rrggbb' or 'r,g,b'")
        vals = [float(p) for p in parts]
    else:
        vals = [float(v) for v in color]
        if len(vals) != 3:
            raise ValueError(f"colour {color!r}: need three components")
    if max(vals) > 1.0:
        vals = [v / 255.0 for v in vals]
    if min(vals) < 0 or max(vals) > 1:
        raise ValueError(f"colour {color!r}: components must be in 0-255 (or 0-1)")
    return torch.tensor(vals, dtype=torch.float32)


class ColorTarget(Verifier):
    """Score = −(Euclidean distance between mean RGB and the target), in [−√3, 0]."""

    def __init__(self, color="#ff0000"):
        self.target = parse_color(color)
        self.name = f"color_target({'#%02x%02x%02x' % tuple(int(round(v * 255)) for v in self.target.tolist())})"

    def _score(self, images, prompts, mid_images):
        mean = images.float().mean(dim=(1, 2))
        return -(mean - self.target.to(mean.device)).norm(dim=-1)


class Brightness(Verifier):
    """Score = −|mean luminance − target|, target in [0, 1]."""

    def __init__(self, target: float = 0.5):
        if not 0.0 <= float(target) <= 1.0:
            raise ValueError(f"brightness target {target} must be in [0, 1]")
        self.target = float(target)
        self.name = f"brightness({self.target:g})"

    def _score(self, images, prompts, mid_images):
        w = torch.tensor(LUMA, dtype=torch.float32, device=images.device)
        luma = (images.float() * w).sum(-1).mean(dim=(1, 2))
        return -(luma - self.target).abs()


class Sharpness(Verifier):
    """Score = mean |Laplacian| of the luminance (4-neighbour stencil), higher = more detail."""

    name = "sharpness"

    def _score(self, images, prompts, mid_images):
        w = torch.tensor(LUMA, dtype=torch.float32, device=images.device)
        y = (images.float() * w).sum(-1)  # [B, H, W]
        lap = (4 * y[:, 1:-1, 1:-1] - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:])
        return lap.abs().mean(dim=(1, 2))
