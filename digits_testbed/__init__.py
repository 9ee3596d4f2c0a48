"""A trained test bed: class-conditional diffusion on scikit-learn's 8x8 digits (see README.md)."""
from .bed import MODELS, Bed
from .denoiser import VERIFIERS, DigitsDenoiser
from .metrics import Metrics

__all__ = ["Bed", "DigitsDenoiser", "MODELS", "Metrics", "VERIFIERS"]
