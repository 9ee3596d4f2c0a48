"""What happens inside one sampling run's model calls (``ModelCalls``, installed by
:class:`nodes.comfy_denoiser.ComfyDenoiser` on the guider's model options): NFE counted once per
latent per post-CFG call (as the host counts sampler steps), latent rows through the diffusion model
counted, the model's forward FLOPs measured once per model and input shape, and with ``row_exact``
one call over B latents split into B calls, each the exact call a batch-1 sampler makes."""
from __future__ import annotations

import weakref

import torch

import comfy.model_patcher


#: FLOPs of one latent row through a diffusion model, per model object and input signature
_FLOPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _flops_key(args) -> tuple:
    c = args.get("c", {})
    ctx = c.get("c_crossattn")
    return (tuple(args["input"].shape[1:]), str(args["input"].dtype),
            tuple(ctx.shape[1:]) if isinstance(ctx, torch.Tensor) else None)


def _split_rows(args, latents: int):
    """Split one UNet call over ``latents`` latents into per-latent calls.

    ComfyUI concatenates one chunk of all latents per condition (cond, uncond, …), so latent r's rows
    are r, r + B, r + 2B, … — in the same order a batch-1 sampler puts them. Returns a list of
    (row index, args) or None when the call has a shape this cannot split exactly (e.g. ControlNet)."""
    x = args["input"]
    n = x.shape[0]
    c = args.get("c", {})
    if n % latents or "control" in c:
        return None
    chunks = n // latents
    t = args["timestep"]
    if not isinstance(t, torch.Tensor) or t.shape[0] != n:
        return None
    out = []
    for r in range(latents):
        idx = torch.tensor([j * latents + r for j in range(chunks)], device=x.device)
        sub_c = {}
        for k, v in c.items():
            if k == "transformer_options":
                v = dict(v)
                sig = v.get("sigmas")
                if isinstance(sig, torch.Tensor) and sig.shape[0] == latents:
                    v["sigmas"] = sig[r:r + 1]
                sub_c[k] = v
            elif isinstance(v, torch.Tensor):
                if v.shape[0] != n:
                    return None
                sub_c[k] = v[idx.to(v.device)]
            elif v is None or isinstance(v, (int, float, str, bool)):
                sub_c[k] = v
            else:
                return None
        out.append((idx, {**args, "input": x[idx], "timestep": t[idx.to(t.device)], "c": sub_c}))
    return out


class ModelCalls:
    """The guider's model options for one sampling run of ``latents`` latents: counts NFE (one per
    latent per post-CFG call, as the host counts sampler steps) and latent rows through the
    diffusion model, measures the model's FLOPs once per model and shape, and with
    ``den.row_exact`` runs the model one latent at a time (the exact call a batch-1 sampler makes)."""

    def __init__(self, den: "ComfyDenoiser", latents: int):
        self.den, self.latents = den, latents
        self.nfe = self.rows = 0
        self.prev = None

    def options(self, orig: dict) -> dict:
        self.prev = orig.get("model_function_wrapper")
        opts = comfy.model_patcher.create_model_options_clone(orig)
        opts = comfy.model_patcher.set_model_options_post_cfg_function(opts, self._count)
        opts["model_function_wrapper"] = self._wrapper
        return opts

    def _count(self, args):
        self.nfe += args["denoised"].shape[0]
        return args["denoised"]

    def _one(self, apply_model, args):
        if self.prev is not None:
            return self.prev(apply_model, args)
        return apply_model(args["input"], args["timestep"], **args["c"])

    def _call(self, apply_model, args):
        if not self.den.row_exact or self.latents == 1:
            return self._one(apply_model, args)
        split = _split_rows(args, self.latents)
        if split is None:
            self.den.row_exact_fallbacks += 1
            return self._one(apply_model, args)
        out = None
        for idx, sub in split:
            o = self._one(apply_model, sub)
            if out is None:
                out = o.new_empty((args["input"].shape[0], *o.shape[1:]))
            out[idx] = o
        return out

    def _wrapper(self, apply_model, args):
        n = args["input"].shape[0]
        self.rows += n
        cache = _FLOPS.setdefault(self.den.guider.model_patcher.model, {})
        key = _flops_key(args)
        if self.den.flops_per_row is None and key not in cache:  # counted once per model and shape
            from torch.utils.flop_counter import FlopCounterMode
            with FlopCounterMode(display=False) as fc:
                out = self._call(apply_model, args)
            cache[key] = fc.get_total_flops() / max(1, n)
            self.den.flops_per_row = cache[key]
            return out
        if self.den.flops_per_row is None:
            self.den.flops_per_row = cache[key]
        return self._call(apply_model, args)
