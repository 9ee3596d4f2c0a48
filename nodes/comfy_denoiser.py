"""ComfyUI implementation of the search protocol (``search.protocol.Denoiser``).

Every model call goes through the host's own guider and sampler (``guider.sample`` over a slice of
the schedule), so conditioning, CFG, patches, hooks and model management behave exactly as in a
stock sampler node. States are kept in ComfyUI's latent convention (what a sampler returns when it
stops early: ``process_latent_out(inverse_noise_scaling(sigma, x))``); the backend converts to
model space only to re-noise.

Bit-exact parity with a stock KSampler: a row started by :meth:`sample` from the noise a KSampler
draws for seed ``s`` (the host's ``prepare_noise``, see ``search_run.host_noise``) runs through
the same calls as that KSampler at batch 1; for samplers that draw noise during sampling
(ancestral, SDE), each row gets the noise sampler the host builds for it alone with its seed
(``step_noise.with_row_noise``). NFE are planned by counting the host sampler's model calls
(nodes/nfe_cost.py), never from a table; what each model call does (NFE and FLOPs counted, rows
split for row-exact runs) is nodes/model_calls.py.
"""
from __future__ import annotations

import inspect
import os
from typing import Callable, Optional

import torch

import comfy.model_management
import comfy.model_sampling
import comfy.samplers

from ..search.batching import Batcher
from . import step_noise
from .model_calls import ModelCalls
from .nfe_cost import NfePlan
from ..search.noise import renoise as renoise_model_space


def _conds_use_seed(model) -> bool:
    """Whether the diffusion model's conditioning reads the sampler's seed (unCLIP and SVD noise
    augmentation, …): read from the model classes' source, as the host has no flag for it."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith("comfy.model_base") and cls.__name__ != "BaseModel":
            try:
                if "seed" in inspect.getsource(cls):
                    return True
            except (OSError, TypeError):
                return True
    return False


class ComfyDenoiser:
    """Drives one ComfyUI guider + sampler over one schedule (see module docstring)."""

    def __init__(self, guider, sampler, sigmas: torch.Tensor, latent_image: torch.Tensor,
                 scorer: Optional[Callable] = None, mid_index: Optional[int] = None,
                 on_step: Optional[Callable[["ComfyDenoiser", torch.Tensor], None]] = None,
                 max_batch: int = 4):
        self.guider, self.sampler = guider, sampler
        self.sigmas = sigmas.detach().float().cpu().clone()  # never the node's own SIGMAS tensor
        if self.sigmas.ndim != 1 or len(self.sigmas) < 2:
            raise ValueError("sigmas: need a schedule of at least one step (two sigmas)")
        self.latent_image = latent_image  # [1, C, H, W]: the start latent (empty for txt2img)
        self.latent_shape = tuple(latent_image.shape[1:])
        patcher = guider.model_patcher
        self.model_sampling = patcher.get_model_object("model_sampling")
        self.latent_format = patcher.get_model_object("latent_format")
        self.parameterization = "flow" if isinstance(self.model_sampling, comfy.model_sampling.CONST) else "ve"
        self.scorer, self.mid_index, self.on_step = scorer, mid_index, on_step
        self.nfe = self.verifier_calls = 0
        #: latent rows through the diffusion model itself (cond and uncond both count: 2 per NFE
        #: under CFG), counted by a separate wrapper as a cross-check of ``nfe``
        self.model_rows = 0
        #: forward FLOPs of one latent row through the diffusion model, measured on the first call
        self.flops_per_row: Optional[float] = None
        #: run the diffusion model one latent at a time (each with its cond/uncond rows together, the
        #: exact call a batch-1 sampler makes). On CPU, oneDNN convolutions change their last bits
        #: with the batch size, and batching buys little there; on GPUs the model runs batched.
        env = os.environ.get("NOISE_SEARCH_ROW_EXACT", "auto").lower()
        self.row_exact = (patcher.load_device.type == "cpu") if env == "auto" else env in ("1", "true", "on")
        self.row_exact_fallbacks = 0
        self.batcher = Batcher(max_batch)
        #: the NFE plan (nodes/nfe_cost.py): the sampler's model calls counted on a stand-in model
        self.plan = NfePlan(sampler, patcher, self.sigmas, self.latent_shape, self.sampler_name)
        #: samplers whose NFE depends on the model's answers (adaptive step size, e.g. dpm_adaptive)
        self.variable_cost = self.plan.variable_cost
        #: run one latent at a time: the model's conditioning reads the sampler's seed, or the sampler
        #: controls its step size on the whole batch (rows would change each other's steps)
        self._per_row = self.variable_cost or _conds_use_seed(patcher.model)

    # -- cost (nodes/nfe_cost.py) ---------------------------------------------------------------
    def cost(self, start: int, end: int) -> int:
        """NFE for one latent from index ``start`` to ``end`` (see :class:`NfePlan`)."""
        return self.plan.cost(start, end)

    @property
    def stochastic(self) -> bool:
        """The sampler draws step noise from the row seeds (ancestral / SDE samplers)."""
        fn = getattr(self.sampler, "sampler_function", None)
        return fn is not None and step_noise.takes_noise_sampler(fn)

    def draws_noise(self, start: int, end: int) -> bool:
        """Whether the sampler adds step noise between indices ``start`` and ``end`` (see
        :meth:`NfePlan.draws_noise`)."""
        return self.stochastic and self.plan.draws_noise(start, end)

    @property
    def sampler_name(self) -> str:
        name = getattr(getattr(self.sampler, "sampler_function", None), "__name__", "")
        return name[len("sample_"):] if name.startswith("sample_") else name

    # -- model calls --------------------------------------------------------------------------
    def _callback(self, x0_at_rel, captured):
        def callback(step, x0, x, total):
            comfy.model_management.throw_exception_if_processing_interrupted()
            if x0_at_rel is not None and step <= x0_at_rel:  # the last one up to it (dpm_fast calls back per order)
                captured["x0"] = self.latent_format.process_out(x0.float()).cpu()
            if self.on_step is not None:
                self.on_step(self, x0)
        return callback

    def _run(self, noise, latent, sigmas, seeds, x0_at_rel: Optional[int], sampler=None):
        if self._per_row and noise.shape[0] > 1:  # each row alone, with its own seed, as a batch-1 KSampler
            outs = [self._run(noise[r:r + 1], latent[r:r + 1], sigmas, [s], x0_at_rel, sampler)
                    for r, s in enumerate(seeds)]
            if x0_at_rel is None:
                return torch.cat(outs)
            return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
        captured = {}
        calls = ModelCalls(self, noise.shape[0])
        orig = self.guider.model_options
        self.guider.model_options = calls.options(orig)
        try:
            # seed: the model's conditioning does not read it (else one row per run, above); the
            # samplers' own step noise is per row (step_noise.with_row_noise)
            # a copy of the schedule: the host's UniPC writes its last sigma (0 -> 0.001) in place
            out = self.guider.sample(noise, latent, sampler or step_noise.with_row_noise(self.sampler, seeds), sigmas.clone(),
                                     denoise_mask=None, callback=self._callback(x0_at_rel, captured),
                                     disable_pbar=True, seed=int(seeds[0]) if len(seeds) else None)
        finally:
            self.guider.model_options = orig
            self.nfe += calls.nfe
            self.model_rows += calls.rows
        out = out.to(comfy.model_management.intermediate_device()).float().cpu()
        if x0_at_rel is not None:
            return out, captured["x0"]
        return out

    def sample(self, noise, end, seeds, x0_at=None):
        sig = self.sigmas[: end + 1]
        latent = self.latent_image.expand(noise.shape[0], *self.latent_shape).contiguous()
        return self._run(noise.to(latent.dtype), latent, sig, seeds, x0_at)

    def denoise(self, x, start, end, seeds, x0_at=None):
        if end <= start:
            raise ValueError(f"denoise: end index {end} must be after start {start}")
        sig = self.sigmas[start: end + 1]
        noise, latent = self._sampler_inputs(x, start)
        return self._run(noise, latent, sig, seeds, None if x0_at is None else x0_at - start)

    def predict_x0(self, x, index):
        last = len(self.sigmas) - 1
        if index >= last:
            return x.clone()
        sig = torch.stack([self.sigmas[index], self.sigmas[last]])
        euler = comfy.samplers.sampler_object("euler")
        return self.batcher(lambda z: self._run(torch.zeros_like(z), z, sig, [0] * z.shape[0], None, sampler=euler), x)

    # -- conversions ----------------------------------------------------------------------------
    def _pure_noise(self, index) -> bool:
        """A flow state at sigma = 1 is pure noise: ComfyUI's stored form, x / (1 - sigma), does
        not exist there, so such a state is kept as the unit noise itself (what ``sample`` takes)."""
        return self.parameterization == "flow" and float(self.sigmas[index]) >= 1.0

    def _sampler_inputs(self, x, index):
        """(noise, latent_image) for ``guider.sample`` to continue states ``x`` from ``index``: the
        host's ``noise_scaling`` rebuilds the model-space state from them."""
        if self._pure_noise(index):  # at sigma = 1 the host takes the state as the noise, as in sample
            return x, self.latent_image.expand(x.shape[0], *self.latent_shape).contiguous()
        return torch.zeros_like(x), x

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
        xb = renoise_model_space(xm, sa, sb, eps, self.parameterization)
        return xb if self._pure_noise(end) else self._from_model(xb, sb)

    # -- scoring --------------------------------------------------------------------------------
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
