"""What a host sampler function does besides calling the model, read from the host itself.

- :func:`with_row_noise`: samplers that draw noise while sampling (ancestral, SDE) get one noise
  sampler per latent row, each built by the host's own ``default_noise_sampler`` or
  ``BrownianTreeNoiseSampler`` for that row alone, with its seed, on the latent's device, with the
  ``cpu`` flag the sampler itself passes: row r draws what a batch-1 KSampler draws for seed r.
- :func:`probe_nfe`: the model calls a sampler makes over a schedule, counted by running the host's
  sampler function against a stand-in model (no diffusion model runs).
"""
from __future__ import annotations

import inspect
import re
from types import SimpleNamespace
from typing import Callable, Optional, Sequence, Tuple

import torch

import comfy.samplers
from comfy.k_diffusion import sampling as k_sampling


def takes_noise_sampler(fn) -> bool:
    try:
        return "noise_sampler" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def noise_kind(fn, depth: int = 3) -> Optional[Tuple[str, Optional[bool]]]:
    """How the host's sampler function ``fn`` builds its noise sampler when given none:
    ("default", None) for ``default_noise_sampler``, ("brownian", cpu) for
    ``BrownianTreeNoiseSampler(..., cpu=cpu)``. Follows a sampler that hands its noise sampler on
    to another sampler of the host (e.g. dpmpp_2m_sde_heun -> dpmpp_2m_sde). Read from the source
    because the choice is inside the function body; None when it builds none."""
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    m = re.search(r"BrownianTreeNoiseSampler\([^\n]*?cpu=(True|False)", src)
    if m:
        return "brownian", m.group(1) == "True"
    if "BrownianTreeNoiseSampler(" in src:
        return "brownian", False  # the host's default for cpu
    if "default_noise_sampler(" in src:
        return "default", None
    if depth:
        for name in re.findall(r"return (\w+)\(", src):
            inner = getattr(k_sampling, name, None)
            kind = noise_kind(inner, depth - 1) if callable(inner) else None
            if kind:
                return kind
    return None


def row_noise_sampler(kind, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int]) -> Callable:
    """A noise sampler for the batch ``x`` whose row r is the host's noise sampler for ``x[r:r+1]``
    and ``seeds[r]``. (Since ComfyUI 0.7, ``default_noise_sampler`` adds 1 to a CPU seed; calling
    it keeps whatever rule the host has.)"""
    if kind[0] == "brownian":
        # the tree's interval, as every host sampler that builds one takes it from its sigmas
        lo, hi = sigmas[sigmas > 0].min(), sigmas.max()
        rows = [k_sampling.BrownianTreeNoiseSampler(x[r:r + 1], lo, hi, seed=int(s), cpu=kind[1])
                for r, s in enumerate(seeds)]
    else:
        rows = [k_sampling.default_noise_sampler(x[r:r + 1], seed=int(s)) for r, s in enumerate(seeds)]
    return lambda sigma, sigma_next: torch.cat([f(sigma, sigma_next) for f in rows], dim=0)


def with_row_noise(sampler, seeds: Sequence[int]):
    """``sampler`` (a host KSAMPLER) whose noise sampler is built per row when sampling starts, from
    the state the sampler function receives (its device and dtype); ``sampler`` itself when it
    draws no noise."""
    fn = getattr(sampler, "sampler_function", None)
    if fn is None or not takes_noise_sampler(fn):
        return sampler
    kind = noise_kind(fn) or ("default", None)  # a sampler of unknown build: the host's usual one
    seeds = [int(s) for s in seeds]

    def sampler_function(model, x, sigmas, *args, **kwargs):
        kwargs["noise_sampler"] = row_noise_sampler(kind, x, sigmas, seeds)
        return fn(model, x, sigmas, *args, **kwargs)

    sampler_function.__name__ = getattr(fn, "__name__", "sampler")
    return comfy.samplers.KSAMPLER(sampler_function, sampler.extra_options, sampler.inpaint_options)


class _TooMany(Exception):
    pass


class _PatchedModel:
    """The model as ``patcher`` presents it before it loads: its ``model_sampling`` is the patcher's own
    (``get_model_object``: its object patch, e.g. ModelSamplingSD3's, or the original), not whatever
    another patcher of the same model left on the shared object when it last loaded (a flow clone's
    sampling on an EPS model until this patcher loads); the rest is the model itself."""

    def __init__(self, patcher):
        self._patcher = patcher

    @property
    def model_sampling(self):
        get = getattr(self._patcher, "get_model_object", None)
        return get("model_sampling") if get is not None else self._patcher.model.model_sampling

    def __getattr__(self, name):
        return getattr(self._patcher.model, name)


class _StandIn:
    """The model a sampler function sees, minus the model: counts calls, returns ``denoised`` from
    ``fill`` and runs the post-CFG functions (CFG++ samplers read the uncond prediction there)."""

    def __init__(self, patcher, fill: Callable[[torch.Tensor], torch.Tensor], limit: Optional[int] = None):
        self.calls, self.fill, self.limit = 0, fill, limit
        self.inner_model = SimpleNamespace(inner_model=_PatchedModel(patcher), model_patcher=patcher)

    def __call__(self, x, sigma, model_options=None, **kwargs):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise _TooMany
        out = self.fill(x)
        for fn in (model_options or {}).get("sampler_post_cfg_function", []):
            out = fn({"denoised": out, "cond_denoised": out, "uncond_denoised": out, "cond": None, "uncond": None,
                      "model": self.inner_model.inner_model, "sigma": sigma, "model_options": model_options,
                      "input": x, "cond_scale": 1.0})
        return out


def probe_nfe(sampler, patcher, sigmas: torch.Tensor, latent_shape, fill=None, limit=None) -> int:
    """Model calls the host's ``sampler`` makes for one latent over ``sigmas`` (a stand-in model
    answers; ``fill`` maps the state to its answer, zeros by default)."""
    fn = sampler.sampler_function
    model = _StandIn(patcher, fill or torch.zeros_like, limit)
    x = torch.zeros([1, latent_shape[0], *[2] * (len(latent_shape) - 1)])
    kw = dict(sampler.extra_options)
    if takes_noise_sampler(fn):
        kw["noise_sampler"] = lambda sigma, sigma_next: torch.zeros_like(x)
    # a copy: some host samplers write into the schedule (UniPC sets its last sigma to 0.001)
    fn(model, x, sigmas.float().clone(), extra_args={"seed": 0, "model_options": {}}, callback=None, disable=True, **kw)
    return model.calls


def probe_draws_noise(sampler, patcher, sigmas: torch.Tensor, latent_shape) -> bool:
    """True when the host's ``sampler`` over ``sigmas`` really adds step noise: its result changes
    when its noise sampler answers differently (a sampler may take a noise sampler and draw nothing
    with it: eta = 0, or outside its stochastic interval). The stand-in model answers half the state
    (an answer that depends on the state, so a difference survives a last step to the answer); the
    two noise samplers answer fixed constants (not host noise); False when unsure (non-finite)."""
    fn = getattr(sampler, "sampler_function", None)
    if fn is None or not takes_noise_sampler(fn):
        return False
    outs = []
    for value in (0.0, 1.0):
        x = torch.ones([1, latent_shape[0], *[2] * (len(latent_shape) - 1)])
        kw = {**sampler.extra_options, "noise_sampler": lambda sigma, sigma_next, v=value: torch.full_like(x, v)}
        outs.append(fn(_StandIn(patcher, lambda z: 0.5 * z), x, sigmas.float().clone(),
                       extra_args={"seed": 0, "model_options": {}}, callback=None, disable=True, **kw))
    return bool(torch.isfinite(outs[0]).all() and torch.isfinite(outs[1]).all() and not torch.equal(*outs))


def probe_is_variable(sampler, patcher, sigmas: torch.Tensor, latent_shape) -> bool:
    """True when the sampler's model calls depend on what the model returns (an adaptive step
    size, e.g. dpm_adaptive): two stand-ins with different answers see different counts."""
    fixed = probe_nfe(sampler, patcher, sigmas, latent_shape)
    # not a copy of host noise: arbitrary answers for the stand-in model, fixed so the probe is repeatable
    g = torch.Generator().manual_seed(0)
    try:  # an adaptive sampler may shrink its steps without end on random answers: stop it early
        noisy = probe_nfe(sampler, patcher, sigmas, latent_shape, limit=2 * fixed + 8,
                          fill=lambda x: torch.randn(x.shape, generator=g, dtype=x.dtype))
    except _TooMany:
        return True
    return noisy != fixed
