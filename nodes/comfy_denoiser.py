"""ComfyUI implementation of the search protocol (``search.protocol.Denoiser``).

Every model call goes through the host's own guider and sampler (``guider.sample`` over a slice of
the schedule), so conditioning, CFG, patches, hooks and model management behave exactly as in a
stock sampler node. States are kept in ComfyUI's latent convention (what a sampler returns when it
stops early: ``process_latent_out(inverse_noise_scaling(sigma, x))``); the backend converts to
model space only to re-noise.

Bit-exact parity with a stock KSampler: a row started by :meth:`sample` from the noise a KSampler
draws for seed ``s`` (``search.noise.seeded_noise``) runs through the same calls as that KSampler
at batch 1; for samplers that draw noise during sampling (ancestral), each row gets its own noise
sampler seeded with its seed, exactly as a batch-1 KSampler seeds it.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import weakref
from typing import Callable, Dict, List, Optional, Sequence

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.model_sampling
import comfy.samplers
import comfy.utils
from comfy.k_diffusion import sampling as k_sampling

from ..search.batching import Batcher
from ..search.noise import renoise as renoise_model_space


def _takes_noise_sampler(fn) -> bool:
    try:
        return "noise_sampler" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _uses_brownian_tree(fn) -> bool:
    try:
        return "BrownianTreeNoiseSampler" in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


#: k-diffusion sampler -> (NFE per step, last step to sigma 0 is a single Euler evaluation)
SAMPLER_NFE = {
    "heun": (2, True), "dpm_2": (2, True), "dpm_2_ancestral": (2, True), "dpmpp_2s_ancestral": (2, True),
    "dpmpp_sde": (2, True), "dpmpp_sde_gpu": (2, True), "heunpp2": (3, True), "seeds_2": (2, True),
    "seeds_3": (3, True), "exp_heun_2_x0": (2, True), "exp_heun_2_x0_sde": (2, True),
}


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


class RowNoiseSampler:
    """Per-row noise for stochastic samplers: row r draws from its own generator seeded with
    ``seeds[r]`` — what k-diffusion's ``default_noise_sampler`` does for a batch-1 latent."""

    def __init__(self, x: torch.Tensor, seeds: Sequence[int]):
        self.x = x
        self.gens = []
        for s in seeds:
            g = torch.Generator(device=x.device)
            g.manual_seed(int(s))
            self.gens.append(g)

    def __call__(self, sigma, sigma_next):
        shape = [1, *self.x.shape[1:]]
        return torch.cat([torch.randn(shape, dtype=self.x.dtype, layout=self.x.layout, device=self.x.device,
                                      generator=g) for g in self.gens], dim=0)


class RowBrownianSampler:
    """Per-row Brownian-tree noise (SDE samplers): one tree per row, seeded with that row's seed."""

    def __init__(self, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int]):
        pos = sigmas[sigmas > 0]
        sigma_min, sigma_max = pos.min(), sigmas.max()
        self.trees = [k_sampling.BrownianTreeNoiseSampler(x[r:r + 1], sigma_min, sigma_max, seed=int(s), cpu=True)
                      for r, s in enumerate(seeds)]

    def __call__(self, sigma, sigma_next):
        return torch.cat([t(sigma, sigma_next) for t in self.trees], dim=0)


class ComfyDenoiser:
    """Drives one ComfyUI guider + sampler over one schedule (see module docstring)."""

    def __init__(self, guider, sampler, sigmas: torch.Tensor, latent_image: torch.Tensor,
                 scorer: Optional[Callable] = None, mid_index: Optional[int] = None,
                 on_step: Optional[Callable[["ComfyDenoiser", torch.Tensor], None]] = None,
                 max_batch: int = 4):
        self.guider = guider
        self.sampler = sampler
        self.sigmas = sigmas.detach().float().cpu()
        if self.sigmas.ndim != 1 or len(self.sigmas) < 2:
            raise ValueError("sigmas: need a schedule of at least one step (two sigmas)")
        self.latent_image = latent_image  # [1, C, H, W]: the start latent (empty for txt2img)
        self.latent_shape = tuple(latent_image.shape[1:])
        patcher = guider.model_patcher
        self.model_sampling = patcher.get_model_object("model_sampling")
        self.latent_format = patcher.get_model_object("latent_format")
        self.parameterization = "flow" if isinstance(self.model_sampling, comfy.model_sampling.CONST) else "ve"
        self.scorer = scorer
        self.mid_index = mid_index
        self.on_step = on_step
        self.nfe = 0
        self.verifier_calls = 0
        #: latent rows through the diffusion model itself (cond and uncond both count: 2 per NFE
        #: under CFG), counted by a separate wrapper as a cross-check of ``nfe``
        self.model_rows = 0
        #: forward FLOPs of one latent row through the diffusion model, measured on the first call
        self.flops_per_row: Optional[float] = None
        #: run the diffusion model one latent at a time (each with its cond/uncond rows together, the
        #: exact call a batch-1 sampler makes). On CPU, oneDNN convolutions change their last bits
        #: with the batch size, and batching buys little there; on GPUs the model runs batched.
        env = os.environ.get("NOISE_SEARCH_ROW_EXACT", "auto").lower()
        self.row_exact = (guider.model_patcher.load_device.type == "cpu") if env == "auto" else env in ("1", "true", "on")
        self.row_exact_fallbacks = 0
        self.batcher = Batcher(max_batch)
        fn = getattr(sampler, "sampler_function", None)
        self._row_noise = fn is not None and _takes_noise_sampler(fn)
        self._brownian = self._row_noise and _uses_brownian_tree(fn)

    # -- cost ---------------------------------------------------------------------------------
    def cost(self, start: int, end: int) -> int:
        """Planned NFE for one latent from index ``start`` to ``end`` (used to fit a budget; the
        reported NFEs are always the counted ones). Second-order samplers spend 2 per step, and
        fall back to one Euler evaluation on the final step to sigma 0."""
        per, euler_last = SAMPLER_NFE.get(self.sampler_name, (1, False))
        n = max(0, end - start) * per
        if euler_last and end == len(self.sigmas) - 1 and end > start:
            n -= per - 1
        return n

    @property
    def sampler_name(self) -> str:
        name = getattr(getattr(self.sampler, "sampler_function", None), "__name__", "")
        return name[len("sample_"):] if name.startswith("sample_") else name

    # -- model calls --------------------------------------------------------------------------
    def _sampler_for(self, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int]):
        if not self._row_noise:
            return self.sampler
        ns = RowBrownianSampler(x, sigmas, seeds) if self._brownian else RowNoiseSampler(x, seeds)
        return comfy.samplers.KSAMPLER(self.sampler.sampler_function,
                                       {**self.sampler.extra_options, "noise_sampler": ns},
                                       self.sampler.inpaint_options)

    def _run(self, noise, latent, sigmas, seeds, x0_at_rel: Optional[int], sampler=None):
        captured = {}
        counted = [0]

        def count(args):
            counted[0] += args["denoised"].shape[0]
            return args["denoised"]

        def callback(step, x0, x, total):
            comfy.model_management.throw_exception_if_processing_interrupted()
            if x0_at_rel is not None and step == x0_at_rel:
                captured["x0"] = self.latent_format.process_out(x0.float()).cpu()
            if self.on_step is not None:
                self.on_step(self, x0)

        rows = [0]
        orig = self.guider.model_options
        prev_wrapper = orig.get("model_function_wrapper")

        latents = noise.shape[0]

        def call_one(apply_model, args):
            if prev_wrapper is not None:
                return prev_wrapper(apply_model, args)
            return apply_model(args["input"], args["timestep"], **args["c"])

        def call(apply_model, args):
            if not self.row_exact or latents == 1:
                return call_one(apply_model, args)
            split = _split_rows(args, latents)
            if split is None:
                self.row_exact_fallbacks += 1
                return call_one(apply_model, args)
            out = None
            for idx, sub in split:
                o = call_one(apply_model, sub)
                if out is None:
                    out = o.new_empty((args["input"].shape[0], *o.shape[1:]))
                out[idx] = o
            return out

        def unet_wrapper(apply_model, args):
            n = args["input"].shape[0]
            rows[0] += n
            if self.flops_per_row is None:  # FLOPs of the model in use, counted once per model and shape
                key = _flops_key(args)
                cache = _FLOPS.setdefault(self.guider.model_patcher.model, {})
                if key not in cache:
                    from torch.utils.flop_counter import FlopCounterMode
                    with FlopCounterMode(display=False) as fc:
                        out = call(apply_model, args)
                    cache[key] = fc.get_total_flops() / max(1, n)
                    self.flops_per_row = cache[key]
                    return out
                self.flops_per_row = cache[key]
            return call(apply_model, args)

        opts = comfy.model_patcher.create_model_options_clone(orig)
        opts = comfy.model_patcher.set_model_options_post_cfg_function(opts, count)
        opts["model_function_wrapper"] = unet_wrapper
        self.guider.model_options = opts
        try:
            device_noise_seed = int(seeds[0]) if len(seeds) else None
            out = self.guider.sample(noise, latent, sampler or self._sampler_for(noise, sigmas, seeds), sigmas,
                                     denoise_mask=None, callback=callback, disable_pbar=True, seed=device_noise_seed)
        finally:
            self.guider.model_options = orig
            self.nfe += counted[0]
            self.model_rows += rows[0]
        out = out.to(comfy.model_management.intermediate_device()).float().cpu()
        if x0_at_rel is not None:
            return out, captured["x0"]
        return out

    def sample(self, noise, end, seeds, x0_at=None):
        sig = self.sigmas[: end + 1]
        latent = self.latent_image.expand(noise.shape[0], *self.latent_shape).contiguous()
        return self._run(noise, latent, sig, seeds, x0_at)

    def denoise(self, x, start, end, seeds, x0_at=None):
        if end <= start:
            raise ValueError(f"denoise: end index {end} must be after start {start}")
        sig = self.sigmas[start: end + 1]
        return self._run(torch.zeros_like(x), x, sig, seeds, None if x0_at is None else x0_at - start)

    def predict_x0(self, x, index):
        last = len(self.sigmas) - 1
        if index >= last:
            return x.clone()
        sig = torch.stack([self.sigmas[index], self.sigmas[last]])
        euler = comfy.samplers.sampler_object("euler")
        return self.batcher(lambda z: self._run(torch.zeros_like(z), z, sig, [0] * z.shape[0], None, sampler=euler), x)

    # -- conversions ----------------------------------------------------------------------------
    def _to_model(self, x, sigma):
        s = torch.tensor([float(sigma)])
        z = self.latent_format.process_in(x)
        return self.model_sampling.noise_scaling(s, torch.zeros_like(z), z, False)

    def _from_model(self, x, sigma):
        s = torch.tensor([float(sigma)])
        return self.latent_format.process_out(self.model_sampling.inverse_noise_scaling(s, x))

    def renoise(self, x, start, end, eps):
        sa, sb = float(self.sigmas[start]), float(self.sigmas[end])
        xm = self._to_model(x, sa)
        return self._from_model(renoise_model_space(xm, sa, sb, eps, self.parameterization), sb)

    # -- scoring --------------------------------------------------------------------------------
    @staticmethod
    def _key(row: torch.Tensor) -> bytes:
        return hashlib.sha1(row.contiguous().numpy().tobytes()).digest()

    def score(self, x0, mid_x0=None):
        if self.scorer is None:
            raise RuntimeError("this search has no verifier to score with")
        images = self.decode(x0)
        mid_images = self.decode(mid_x0, cache=False) if mid_x0 is not None else None
        self.verifier_calls += x0.shape[0]
        return self.scorer(images, mid_images)

    @property
    def flops_per_nfe(self) -> Optional[float]:
        """FLOPs of one denoiser evaluation of one latent (both CFG branches included)."""
        if self.flops_per_row is None or self.nfe == 0:
            return None
        return self.flops_per_row * self.model_rows / self.nfe

    def decode(self, latents: torch.Tensor, cache: bool = True) -> torch.Tensor:
        """Decode latents to IMAGE with the VAE the scorer was given (cached per latent until released)."""
        return self.scorer.decode(latents, cache)

    def rank(self, scores: torch.Tensor) -> torch.Tensor:
        """Joint values of one decision set of member-score vectors (rank ensembles; see search.decide)."""
        return self.scorer.rank(scores)

    def release(self, latents: torch.Tensor) -> None:
        """Rows the search will not ask for again: drop their decoded images."""
        self.scorer.release(latents)

    def decoded_rows(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decode(latents)
