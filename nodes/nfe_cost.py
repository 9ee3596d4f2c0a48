"""Planning a search's cost in NFE before spending it: the model calls the host's sampler function
makes over a slice of the schedule, counted once per slice by running it against a stand-in model
(``step_noise.probe_nfe``), never read from a table. The reported NFEs are always the counted ones
(nodes/model_calls.py); these are the plan the strategies and budgets use."""
from __future__ import annotations

import logging
from typing import Dict

from . import step_noise


class NfePlan:
    """NFE of one latent between two schedule indices, for one sampler, model and schedule."""

    def __init__(self, sampler, patcher, sigmas, latent_shape, sampler_name: str):
        self.sampler, self.patcher, self.sigmas, self.latent_shape = sampler, patcher, sigmas, latent_shape
        self.sampler_name = sampler_name
        self._costs: Dict[tuple, object] = {}
        #: samplers whose NFE depends on the model's answers (adaptive step size, e.g. dpm_adaptive)
        #: (also True when the stand-in model cannot drive the sampler: its NFE are then unplanned)
        self.variable_cost = self._probe(step_noise.probe_is_variable, self.sigmas) in (True, None)

    def cost(self, start: int, end: int) -> int:
        """NFE for one latent from index ``start`` to ``end``."""
        if end <= start:
            return 0
        if (start, end) not in self._costs:
            n = self._probe(step_noise.probe_nfe, self.sigmas[start:end + 1])
            self._costs[start, end] = end - start if n is None else n  # unplanned: one per step
        return self._costs[start, end]

    def draws_noise(self, start: int, end: int) -> bool:
        """Whether the sampler really adds step noise between indices ``start`` and ``end`` (a sampler
        may take a noise sampler and draw nothing: eta = 0, or outside its stochastic interval); probed
        once per slice (``step_noise.probe_draws_noise``); False when it cannot be probed."""
        key = ("noise", start, end)
        if key not in self._costs:
            self._costs[key] = bool(self._probe(step_noise.probe_draws_noise, self.sigmas[start:end + 1]))
        return self._costs[key]

    def _probe(self, fn, sigmas):
        try:
            return fn(self.sampler, self.patcher, sigmas, self.latent_shape)
        except Exception as e:  # noqa: BLE001 - a sampler the stand-in cannot drive still samples
            logging.getLogger("noise_search").warning("noise search: cannot count the NFE of sampler %r (%s: %s); "
                                                      "budgets are refused for it", self.sampler_name,
                                                      type(e).__name__, e)
            return None
