"""Verifiers: score images (and prompts). Never imports ComfyUI."""
from .base import Verifier, expand_prompts
from .weightfree import Brightness, ColorTarget, Sharpness

__all__ = ["Verifier", "expand_prompts", "Brightness", "ColorTarget", "Sharpness"]
