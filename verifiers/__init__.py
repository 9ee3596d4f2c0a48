"""Verifiers: score images (and prompts). Never imports ComfyUI.

Importing this package is cheap: it imports torch only; transformers (and, for the optional
OpenCLIP backend, open_clip) are imported when a model is loaded.
"""
from .base import Verifier, expand_prompts
from .weightfree import Brightness, ColorTarget, Sharpness
from .loading import WeightsNotFoundError, list_local, resolve
from .clip import CLIPScore
from .image_reward import ImageReward, ImageRewardKeyError
from .aesthetic import AestheticScore
from .ensemble import Ensemble, WithPrompt, average_ranks
from .classifier import ClassifierLogit, CLIPZeroShot
from .self_supervised import SelfSupervised
from .vlm import VLMJudge
from .reward_models import HPSv2, KeyLayoutError, PickScore
from .flops import count_flops, nfe_equivalents, verifier_nfe_equivalents

__all__ = ["Verifier", "expand_prompts", "Brightness", "ColorTarget", "Sharpness",
           "WeightsNotFoundError", "list_local", "resolve", "CLIPScore", "ImageReward", "ImageRewardKeyError",
           "AestheticScore", "Ensemble", "WithPrompt", "average_ranks", "ClassifierLogit", "CLIPZeroShot", "SelfSupervised", "VLMJudge", "PickScore", "HPSv2", "KeyLayoutError",
           "count_flops", "nfe_equivalents", "verifier_nfe_equivalents"]
