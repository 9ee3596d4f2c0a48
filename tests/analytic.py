r"""Analytic diffusion test bed: a Gaussian mixture whose exact denoiser is closed form.

Data
    x0 ~ sum_k w_k N(mu_k, diag(s_k^2)) in R^D (``latent_shape = (D,)``; default D = 4, four
    components, the *target* component rare, so that a plain sample lands in it only sometimes).

Forward process (one formula for both parameterisations)
    x_sigma = a(sigma) x0 + sigma eps,  eps ~ N(0, I),  with
        "ve"   (EPS / V models):      a(sigma) = 1
        "flow" (rectified flow/CONST): a(sigma) = 1 - sigma
    Given component k, x_sigma ~ N(a mu_k, a^2 s_k^2 + sigma^2) per dimension, so the marginal is
    again a Gaussian mixture with responsibilities
        r_k(x) ∝ w_k prod_d N(x_d; a mu_kd, v_kd),   v_kd = a^2 s_kd^2 + sigma^2,
    and the exact (MMSE) denoiser is
        E[x0 | x_sigma] = sum_k r_k(x) [ mu_k + (a s_k^2 / v_k) (x - a mu_k) ]      (elementwise).
    :meth:`GaussianMixture.posterior_mean` computes it in float64; every op is per row, so a row's
    result never depends on the other rows of its batch.

Model
    :class:`AnalyticDenoiser` uses that denoiser as its "network". ``mean_shift`` makes the model
    imperfect: it denoises as if every mean were ``mu_k + mean_shift * v`` (v = (1,..,1)/sqrt(D)),
    so its samples come out shifted and a verifier that knows the true target has something to
    find beyond "which component". Every model evaluation goes through :meth:`_model`, which adds
    the batch size to ``nfe`` and calls ``self.x0_model(x, sigma)`` (tests wrap that attribute to
    count calls independently).

Schedules (``steps`` steps, ``steps + 1`` sigmas ending at 0)
    ve:   Karras, sigma_max = 20, sigma_min = 0.02, rho = 7
    flow: shifted linear, sigma(t) = shift t / (1 + (shift - 1) t), t = 1 .. 0 evenly, shift = 3

Solvers (k-diffusion style, d = (x - x0_hat) / sigma; the same formula is the flow velocity)
    euler            1 NFE per step
    heun             2 NFE per step, 1 on the last step (to sigma = 0, an Euler step)
    euler_ancestral  1 NFE per step; ve: sigma_up/sigma_down split (eta = 1); flow: ComfyUI's RF
                     variant. The fresh noise of step i for row r is drawn from a generator seeded
                     with derive_seed(seeds[r], i), so rows are batch independent and a trajectory
                     split into several ``denoise`` calls equals the one-call trajectory.

States are stored in model space (x_sigma itself); ``sample`` starts from sigma_0 * noise (ve) or
noise (flow, sigma_0 = 1).

Verifier (``score``)
    "true":   log N(x0; mu_t, diag s_t^2), the true log-density under the target component t
    "biased": the true score + beta <x0, u>, u the unit vector from mu_t towards the mean of
              another component (``bias_component``), or ``bias_direction`` normalised: rewards an
              off-target direction, so searching it can "hack" the verifier (bench/hacking.py).
              Within the target component the biased optimum is mu_t + beta s_t^2 u, whose true
              score is beta^2 |s_t u|^2 / 2 below the mode. :meth:`true_score` is the held-out
              true score and counts no verifier call.
    With ``mid_index`` set, ``score`` needs ``mid_x0`` and subtracts
    ``mid_weight * |x0 - mid_x0|^2 / D`` (a consistency term, like verifiers that compare the final
    image with the mid-trajectory prediction).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from search.noise import derive_seed, renoise as _renoise, seeded_noise

SOLVERS = ("euler", "heun", "euler_ancestral")


class GaussianMixture:
    """Diagonal-covariance Gaussian mixture; all maths in float64."""

    def __init__(self, means, stds, weights):
        self.means = torch.as_tensor(means, dtype=torch.float64)      # [K, D]
        self.stds = torch.as_tensor(stds, dtype=torch.float64)        # [K, D]
        w = torch.as_tensor(weights, dtype=torch.float64)
        self.weights = w / w.sum()                                    # [K]
        if self.means.shape != self.stds.shape or self.means.shape[0] != self.weights.shape[0]:
            raise ValueError("means and stds must be [K, D] and weights [K]")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @staticmethod
    def signal_scale(sigma: float, parameterization: str) -> float:
        if parameterization == "ve":
            return 1.0
        if parameterization == "flow":
            return 1.0 - float(sigma)
        raise ValueError(f"unknown parameterization {parameterization!r}")

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        return self.means[k] + self.stds[k] * z

    def component_log_prob(self, x: torch.Tensor, k: int) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).to(torch.float64)
        mu, s = self.means[k], self.stds[k]
        return (-0.5 * ((x - mu) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).to(torch.float64)
        lp = torch.stack([self.component_log_prob(x, k) for k in range(len(self.weights))], -1)
        return torch.logsumexp(lp + torch.log(self.weights), -1)

    def posterior_mean(self, x: torch.Tensor, sigma: float, parameterization: str) -> torch.Tensor:
        """E[x0 | x_sigma = x] for rows of ``x`` (any trailing shape of D elements)."""
        shape, dtype = x.shape, x.dtype
        xf = x.reshape(shape[0], 1, -1).to(torch.float64)                     # [B, 1, D]
        a = self.signal_scale(sigma, parameterization)
        s2 = self.stds ** 2                                                   # [K, D]
        v = a * a * s2 + float(sigma) ** 2                                    # [K, D]
        diff = xf - a * self.means                                            # [B, K, D]
        logr = torch.log(self.weights) - 0.5 * (diff * diff / v + torch.log(v)).sum(-1)
        r = torch.softmax(logr, dim=-1)                                       # [B, K]
        cond = self.means + (a * s2 / v) * diff                               # [B, K, D]
        out = (r.unsqueeze(-1) * cond).sum(1)
        return out.reshape(shape).to(dtype)

    def marginal_moments(self, sigma: float, parameterization: str):
        """Per-dimension mean and variance of x_sigma."""
        a = self.signal_scale(sigma, parameterization)
        w = self.weights.unsqueeze(-1)
        m0 = (w * self.means).sum(0)
        var0 = (w * (self.stds ** 2 + self.means ** 2)).sum(0) - m0 ** 2
        return a * m0, a * a * var0 + float(sigma) ** 2

    def shifted(self, shift: torch.Tensor) -> "GaussianMixture":
        return GaussianMixture(self.means + shift, self.stds, self.weights)


def default_mixture(dim: int = 4) -> GaussianMixture:
    """Four components at distance 3 from the origin along +-e1, +-e2; component 0 (the default
    target) has weight 0.15, so a plain sample lands in it about one time in seven."""
    if dim < 2:
        raise ValueError("default mixture needs dim >= 2")
    means = torch.zeros(4, dim, dtype=torch.float64)
    means[0, 0], means[1, 0], means[2, 1], means[3, 1] = 3.0, -3.0, 3.0, -3.0
    stds = torch.full((4, dim), 0.6, dtype=torch.float64)
    stds[1] *= 1.2
    stds[2] *= 0.9
    stds[3] *= 1.1
    return GaussianMixture(means, stds, [0.15, 0.35, 0.25, 0.25])


def uneven_mixture(dim: int = 4) -> GaussianMixture:
    """A second geometry: five modes of unequal weight and spread. The target (component 0) is rare
    (weight 0.06) and narrow (std 0.25), 2.8 from a broad dominant mode at the origin (weight 0.5,
    std 1.5) that covers it; the others differ in weight (0.2, 0.14, 0.1) and spread (0.5, 0.8, 0.4)."""
    if dim < 4:
        raise ValueError("uneven mixture needs dim >= 4")
    means = torch.zeros(5, dim, dtype=torch.float64)
    means[0, :2] = torch.tensor([2.0, 2.0])
    means[2, :2] = torch.tensor([-3.0, 1.0])
    means[3, :3] = torch.tensor([1.0, -3.0, 1.0])
    means[4, 2:4] = torch.tensor([3.0, -2.0])
    stds = torch.tensor([0.25, 1.5, 0.5, 0.8, 0.4], dtype=torch.float64).unsqueeze(-1).expand(5, dim).clone()
    return GaussianMixture(means, stds, [0.06, 0.5, 0.2, 0.14, 0.1])


def karras_sigmas(steps: int, sigma_min: float = 0.02, sigma_max: float = 20.0, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    s = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)])


def flow_sigmas(steps: int, shift: float = 3.0) -> torch.Tensor:
    t = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    return shift * t / (1 + (shift - 1) * t)


class AnalyticDenoiser:
    """Implements :class:`search.protocol.Denoiser` on a Gaussian mixture (see module docstring)."""

    def __init__(self, parameterization: str = "ve", steps: int = 10, solver: str = "euler",
                 mixture: Optional[GaussianMixture] = None, target: int = 0, verifier: str = "true",
                 beta: float = 3.0, bias_component: int = 2, bias_direction=None, mean_shift: float = 0.0,
                 mid_index: Optional[int] = None, mid_weight: float = 1.0):
        if parameterization not in ("ve", "flow"):
            raise ValueError(f"parameterization must be 've' or 'flow', got {parameterization!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if verifier not in ("true", "biased"):
            raise ValueError(f"verifier must be 'true' or 'biased', got {verifier!r}")
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.parameterization = parameterization
        self.solver = solver
        self.steps = int(steps)
        self.mixture = mixture or default_mixture()
        d = self.mixture.dim
        self.latent_shape = (d,)
        self.sigmas = karras_sigmas(self.steps) if parameterization == "ve" else flow_sigmas(self.steps)
        self.target = int(target)
        self.verifier = verifier
        self.beta = float(beta)
        if bias_direction is not None:
            u = torch.as_tensor(bias_direction, dtype=torch.float64).reshape(d)
        else:
            u = self.mixture.means[int(bias_component)] - self.mixture.means[self.target]
        self.bias_direction = u / u.norm()
        self.mean_shift = float(mean_shift)
        self.model_mixture = self.mixture.shifted(self.mean_shift * torch.ones(d, dtype=torch.float64) / math.sqrt(d))
        if mid_index is not None and not 0 <= int(mid_index) < self.steps:
            raise ValueError(f"mid_index must be in [0, {self.steps}), got {mid_index}")
        self.mid_index = None if mid_index is None else int(mid_index)
        self.mid_weight = float(mid_weight)
        self.nfe = 0
        self.verifier_calls = 0
        #: the "network": (x, sigma) -> x0 prediction; wrap it to count calls
        self.x0_model = lambda x, sigma: self.model_mixture.posterior_mean(x, sigma, self.parameterization)

    # ---- model ---------------------------------------------------------------------------------
    def _model(self, x: torch.Tensor, index: int) -> torch.Tensor:
        self.nfe += x.shape[0]
        return self.x0_model(x, float(self.sigmas[index]))

    @property
    def stochastic(self) -> bool:
        return self.solver == "euler_ancestral"

    @property
    def last(self) -> int:
        return len(self.sigmas) - 1

    def cost(self, start: int, end: int) -> int:
        if self.solver != "heun":
            return int(end) - int(start)
        return sum(1 if float(self.sigmas[i + 1]) == 0.0 else 2 for i in range(int(start), int(end)))

    # ---- sampling ------------------------------------------------------------------------------
    def sample(self, noise: torch.Tensor, end: int, seeds: Sequence[int], x0_at: Optional[int] = None):
        x = noise * float(self.sigmas[0]) if self.parameterization == "ve" else noise.clone()
        return self.denoise(x, 0, end, seeds, x0_at)

    def _step_noise(self, like: torch.Tensor, seeds: Sequence[int], i: int) -> torch.Tensor:
        return torch.cat([seeded_noise([1, *like.shape[1:]], derive_seed(int(s), i), like.dtype) for s in seeds])

    def denoise(self, x: torch.Tensor, start: int, end: int, seeds: Sequence[int], x0_at: Optional[int] = None):
        start, end = int(start), int(end)
        if not 0 <= start < end <= self.last:
            raise ValueError(f"denoise needs 0 <= start < end <= {self.last}, got {start}..{end}")
        if x0_at is not None and not start <= x0_at < end:
            raise ValueError(f"x0_at={x0_at} outside [{start}, {end})")
        if len(seeds) != x.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for {x.shape[0]} rows")
        captured = None
        for i in range(start, end):
            s, sn = float(self.sigmas[i]), float(self.sigmas[i + 1])
            x0 = self._model(x, i)
            if i == x0_at:
                captured = x0
            d = (x - x0) / s
            if self.solver == "euler" or (self.solver == "heun" and sn == 0.0):
                x = x + d * (sn - s)
            elif self.solver == "heun":
                x2 = x + d * (sn - s)
                d2 = (x2 - self._model(x2, i + 1)) / sn
                x = x + 0.5 * (d + d2) * (sn - s)
            elif self.parameterization == "ve":  # euler_ancestral, eta = 1
                up = min(sn, (sn * sn * (s * s - sn * sn) / (s * s)) ** 0.5)
                down = (sn * sn - up * up) ** 0.5
                x = x + d * (down - s)
                if sn > 0:
                    x = x + self._step_noise(x, seeds, i) * up
            else:  # euler_ancestral, rectified flow (ComfyUI's sample_euler_ancestral_RF, eta = 1)
                down = sn * (sn / s)
                ratio = down / s
                x = ratio * x + (1 - ratio) * x0
                if sn > 0:
                    a_next, a_down = 1 - sn, 1 - down
                    coeff = max(sn * sn - down * down * a_next * a_next / (a_down * a_down), 0.0) ** 0.5
                    x = (a_next / a_down) * x + self._step_noise(x, seeds, i) * coeff
        return x if x0_at is None else (x, captured)

    def predict_x0(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return self._model(x, int(index))

    def renoise(self, x: torch.Tensor, start: int, end: int, eps: torch.Tensor) -> torch.Tensor:
        if not 0 <= int(end) < int(start) <= self.last:
            raise ValueError(f"renoise needs 0 <= end < start <= {self.last}, got start={start} end={end}")
        return _renoise(x, float(self.sigmas[start]), float(self.sigmas[end]), eps, self.parameterization)

    # ---- verifier ------------------------------------------------------------------------------
    def true_score(self, x0: torch.Tensor) -> torch.Tensor:
        """Held-out score: log-density of x0 under the target component (no verifier call)."""
        return self.mixture.component_log_prob(x0, self.target)

    def score(self, x0: torch.Tensor, mid_x0: Optional[torch.Tensor] = None) -> torch.Tensor:
        self.verifier_calls += x0.shape[0]
        s = self.true_score(x0)
        flat = x0.reshape(x0.shape[0], -1).to(torch.float64)
        if self.verifier == "biased":
            s = s + self.beta * (flat * self.bias_direction).sum(-1)
        if self.mid_index is not None:
            if mid_x0 is None:
                raise ValueError("this verifier needs mid_x0 (mid_index is set)")
            m = mid_x0.reshape(flat.shape).to(torch.float64)
            s = s - self.mid_weight * ((flat - m) ** 2).mean(-1)
        return s.to(torch.float32)
