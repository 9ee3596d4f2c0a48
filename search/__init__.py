"""Search over diffusion noise. Torch only: this package never imports ComfyUI."""
from .batching import Batcher
from .noise import derive_seed, noise_batch, renoise, seeded_noise
from .particles import ParticleSearch
from .paths import PathsSearch
from .protocol import Denoiser
from .random_search import RandomSearch
from .result import Candidate, SearchResult
from .zero_order import ZeroOrderSearch

#: strategy name (as in ``SearchResult.algorithm``) -> class
STRATEGIES = {cls.name: cls for cls in (RandomSearch, ZeroOrderSearch, PathsSearch, ParticleSearch)}

__all__ = ["Batcher", "Candidate", "Denoiser", "ParticleSearch", "PathsSearch", "RandomSearch", "STRATEGIES",
           "SearchResult", "ZeroOrderSearch", "derive_seed", "noise_batch", "renoise", "seeded_noise"]
