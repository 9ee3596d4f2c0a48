"""Run a function over a batch in chunks of at most ``max_batch`` rows, halving on OOM."""
from __future__ import annotations

import logging
from typing import Callable, Sequence, Tuple, Union

import torch

log = logging.getLogger(__name__)
Out = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class Batcher:
    """Splits work into row chunks. ``limit`` shrinks (and stays shrunk) after an out-of-memory
    error, so one OOM costs one retry for the rest of the search, not one per call.

    Results never depend on the chunk size as long as ``fn`` treats rows independently, which
    the Denoiser protocol requires (per-row seeds)."""

    def __init__(self, max_batch: int):
        if int(max_batch) < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.limit = int(max_batch)
        self.oom_retries = 0

    def __call__(self, fn: Callable[..., Out], *tensors: torch.Tensor, seeds: Sequence[int] = ()) -> Out:
        n = tensors[0].shape[0]
        outs = []
        i = 0
        while i < n:
            size = min(self.limit, n - i)
            sl = slice(i, i + size)
            try:
                args = [t[sl] for t in tensors]
                out = fn(*args, seeds=list(seeds[sl])) if len(seeds) else fn(*args)
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not is_oom(exc) or size == 1:
                    raise
                self.limit = max(1, size // 2)
                self.oom_retries += 1
                log.warning("out of memory at batch %d; retrying with batch %d", size, self.limit)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            outs.append(out)
            i += size
        if isinstance(outs[0], tuple):
            return tuple(torch.cat([o[k] for o in outs], dim=0) for k in range(len(outs[0])))
        return torch.cat(outs, dim=0)
