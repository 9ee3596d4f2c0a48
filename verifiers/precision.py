"""Heads and final scores in float32.

On GPUs with bf16/fp16, ComfyUI-side loading casts a verifier's modules to half precision
(``nodes/verifier_runtime.py``). Backbones may run there, but a score stored in bf16 has a step of
2^-5 = 0.031 between 4 and 8 (the aesthetic range), so near-equal candidates tie exactly and the
first index wins. Verifiers therefore run their heads through :func:`fp32_forward`.
"""
from __future__ import annotations

import itertools

import torch


def fp32_forward(module: torch.nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """``module(*args)`` computed in float32 whatever the dtype of its weights and inputs (the
    weights are upcast per call: heads are small)."""
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in itertools.chain(module.named_parameters(), module.named_buffers())}
    return torch.func.functional_call(module, state, tuple(a.float() for a in args))


def head_in_fp32(head: torch.nn.Module) -> torch.utils.hooks.RemovableHandle:
    """Make ``head`` (a classifier layer inside a transformers model) return float32 logits
    computed in float32, whatever dtype the model is cast to later."""
    def hook(mod, args, out):
        if isinstance(out, torch.Tensor) and out.dtype != torch.float32:
            return fp32_forward(mod, *args)  # fp32 output: this hook leaves the inner call alone
        return None
    return head.register_forward_hook(hook)
