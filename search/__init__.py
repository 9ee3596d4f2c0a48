"""Search over diffusion noise. Torch only: this package never imports ComfyUI."""
from .batching import Batcher
from .noise import derive_seed, noise_batch, renoise, seeded_noise
from .protocol import Denoiser
from .random_search import RandomSearch
from .result import Candidate, SearchResult

__all__ = ["Batcher", "Candidate", "Denoiser", "RandomSearch", "SearchResult",
           "derive_seed", "noise_batch", "renoise", "seeded_noise"]
