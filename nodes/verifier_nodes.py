"""ComfyUI nodes that build verifiers (``NS_VERIFIER``) and score image batches post hoc.

Weights live in ``models/verifiers`` (registered here as a ComfyUI model folder, so
``extra_model_paths.yaml`` can add more with a ``verifiers:`` entry), or in the Hugging Face cache.
Each loader's ``model`` combo lists what is found locally plus the default Hugging Face id; the
optional ``model_override`` STRING (a path or any Hugging Face id, ``org/name`` or
``org/name:file``) wins when non-empty. Nothing is loaded when nodes are defined; loading happens
when the node runs, and loaded verifiers are shared between nodes asking for the same thing.
"""
from __future__ import annotations

import json
import os
import weakref
from typing import List

import torch

import folder_paths

from ..verifiers import (AestheticScore, Brightness, CLIPScore, CLIPZeroShot, ClassifierLogit, ColorTarget,
                         Ensemble, HPSv2, ImageReward, PickScore, SelfSupervised, Sharpness, VLMJudge, WithPrompt,
                         download, list_local)
from ..verifiers import vlm
from ..verifiers.reward_models import DEFAULT_HPS, DEFAULT_PICKSCORE
from ..verifiers.aesthetic import DEFAULT_HEAD
from ..verifiers.clip import DEFAULT_CLIP
from ..verifiers.image_reward import DEFAULT_IMAGE_REWARD
from ..verifiers.self_supervised import DEFAULT_DINO
from .scoring import finite_json
from .verifier_runtime import BoundVerifier, score_images

FOLDER = "verifiers"
folder_paths.add_model_folder_path(FOLDER, os.path.join(folder_paths.models_dir, FOLDER))
try:  # a folder created by add_model_folder_path has no extension filter; give it the usual one
    folder_paths.folder_names_and_paths[FOLDER][1].update(folder_paths.supported_pt_extensions)
except Exception:
    pass

CATEGORY = "sampling/noise search/verifiers"
DEFAULT_CLASSIFIER = "google/vit-base-patch16-224"


def search_dirs() -> List[str]:
    try:
        return folder_paths.get_folder_paths(FOLDER)
    except Exception:
        return [os.path.join(folder_paths.models_dir, FOLDER)]


def model_choices(default: str, exts=(".pt", ".pth", ".bin", ".safetensors"), files: bool = True,
                  dirs: bool = True) -> List[str]:
    """Default hub id first, then what is under models/verifiers (folders and/or weight files)."""
    found = []
    for name in list_local(search_dirs(), exts):
        full = next((os.path.join(d, name) for d in search_dirs() if os.path.exists(os.path.join(d, name))), None)
        if full is None:
            continue
        if (os.path.isdir(full) and dirs) or (os.path.isfile(full) and files):
            found.append(name)
    return list(dict.fromkeys([default] + found))


def _spec(model: str, override: str) -> str:
    return (override or "").strip() or (model or "").strip()


_CACHE: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _cached(key, build):
    v = _CACHE.get(key)
    if v is None:
        v = build()
        _CACHE[key] = v
    return v


def _fail(node: str, inp: str, value, e: Exception):
    raise RuntimeError(f"{node}: input '{inp}' = {value!r}: {e}") from e


class _ComfyProgress:
    """Download progress on ComfyUI's progress bar (one bar per file, in bytes)."""

    def __init__(self):
        self.bar, self.desc = None, None

    def __call__(self, desc, done, total):
        if not total:
            return
        import comfy.utils
        if self.bar is None or desc != self.desc:
            self.bar, self.desc = comfy.utils.ProgressBar(int(total)), desc
        self.bar.update_absolute(int(done), int(total))


def _downloads(allow):
    """Downloads of missing weights while a node loads: on unless ``allow`` is False (the node's
    'download' input), NOISE_SEARCH_ALLOW_DOWNLOAD=0, or HF_HUB_OFFLINE; shown on ComfyUI's bar."""
    return download.settings(allow=None if allow else False, progress=_ComfyProgress())


def _load(node: str, inp: str, value, key, build, allow_download=True):
    try:
        with _downloads(allow_download):
            return _cached(key, build)
    except Exception as e:  # noqa: BLE001 - re-raised naming the input
        _fail(node, inp, value, e)


OVERRIDE = ("STRING", {"default": "", "multiline": False,
                       "tooltip": "Optional: a local path or a Hugging Face id (org/name or org/name:file); "
                                  "overrides the combo when not empty."})
PROMPT = ("STRING", {"multiline": True, "default": "",
                     "tooltip": "The prompt the images are scored against. Link it to the String node that also "
                                "feeds CLIPTextEncode, so the prompt is typed once."})
DOWNLOAD = ("BOOLEAN", {"default": True, "tooltip": "Download missing weights from the Hugging Face hub into "
                                                    "models/verifiers/<name>/ on first use (never when "
                                                    "HF_HUB_OFFLINE is set)."})


class _Base:
    RETURN_TYPES = ("NS_VERIFIER",)
    RETURN_NAMES = ("verifier",)
    FUNCTION = "build"
    CATEGORY = CATEGORY


class NoiseSearchCLIPScore(_Base):
    DESCRIPTION = "CLIPScore verifier: 100·max(cos(image, prompt), 0) with a CLIP model."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (model_choices(DEFAULT_CLIP, files=False), {"default": DEFAULT_CLIP}),
                             "prompt": PROMPT},
                "optional": {"model_override": OVERRIDE,
                             "clamp_negative": ("BOOLEAN", {"default": True, "tooltip": "CLIPScore clamps cos < 0 to 0; "
                                                            "off: 100·cos, which still ranks when all cosines are negative."}),
                             "download": DOWNLOAD}}

    def build(self, model, prompt, model_override="", clamp_negative=True, download=True):
        spec = _spec(model, model_override)
        inp = "model_override" if (model_override or "").strip() else "model"
        v = _load("NoiseSearchCLIPScore", inp, spec, ("clip", spec, bool(clamp_negative)),
                  lambda: CLIPScore.from_pretrained(spec, search_dirs(), clamp=bool(clamp_negative)), download)
        return (BoundVerifier(v, prompt),)


class NoiseSearchImageReward(_Base):
    DESCRIPTION = "ImageReward verifier (human-preference reward; ImageReward.pt + med_config.json)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (model_choices(DEFAULT_IMAGE_REWARD, exts=(".pt", ".pth", ".safetensors")),
                                       {"default": DEFAULT_IMAGE_REWARD}),
                             "prompt": PROMPT},
                "optional": {"model_override": OVERRIDE,
                             "tokenizer_override": ("STRING", {"default": "", "tooltip": "Optional folder or HF id of the "
                                                                "bert-base-uncased tokenizer (default: next to the "
                                                                "checkpoint, models/verifiers/bert-base-uncased, or the HF cache)."}),
                             "download": DOWNLOAD}}

    def build(self, model, prompt, model_override="", tokenizer_override="", download=True):
        spec = _spec(model, model_override)
        tok = (tokenizer_override or "").strip() or None
        inp = "model_override" if (model_override or "").strip() else "model"
        v = _load("NoiseSearchImageReward", inp, spec, ("image_reward", spec, tok),
                  lambda: ImageReward.from_pretrained(spec, search_dirs(), tokenizer=tok), download)
        return (BoundVerifier(v, prompt),)


class NoiseSearchAesthetic(_Base):
    DESCRIPTION = "LAION aesthetic predictor on CLIP ViT-L/14 image embeddings (no prompt)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"head": (model_choices(DEFAULT_HEAD, exts=(".pth", ".pt", ".safetensors"), dirs=False),
                                      {"default": DEFAULT_HEAD}),
                             "clip_model": (model_choices(DEFAULT_CLIP, files=False), {"default": DEFAULT_CLIP})},
                "optional": {"head_override": OVERRIDE, "clip_override": OVERRIDE, "download": DOWNLOAD}}

    def build(self, head, clip_model, head_override="", clip_override="", download=True):
        h, c = _spec(head, head_override), _spec(clip_model, clip_override)
        names = {"head": ("head_override" if (head_override or "").strip() else "head", h),
                 "clip": ("clip_override" if (clip_override or "").strip() else "clip_model", c)}
        try:
            with _downloads(download):
                v = _cached(("aesthetic", h, c), lambda: AestheticScore.from_pretrained(h, c, search_dirs()))
        except Exception as e:  # noqa: BLE001 - re-raised naming the input(s) at fault
            bad = [names[p] for p in getattr(e, "bad_input", ()) if p in names] or list(names.values())
            _fail("NoiseSearchAesthetic", "/".join(n for n, _ in bad), " + ".join(x for _, x in bad), e)
        return (BoundVerifier(v, ""),)


class NoiseSearchEnsemble(_Base):
    DESCRIPTION = ("Ensemble of 2-4 verifiers by weighted average rank (ties share their mean rank). "
                   "Each member keeps its own prompt.")

    @classmethod
    def INPUT_TYPES(cls):
        w = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.05})
        return {"required": {"verifier_1": ("NS_VERIFIER",), "verifier_2": ("NS_VERIFIER",),
                             "weight_1": w, "weight_2": w},
                "optional": {"verifier_3": ("NS_VERIFIER",), "verifier_4": ("NS_VERIFIER",),
                             "weight_3": w, "weight_4": w}}

    def build(self, verifier_1, verifier_2, weight_1=1.0, weight_2=1.0, verifier_3=None, verifier_4=None,
              weight_3=1.0, weight_4=1.0):
        members, weights = [], []
        for i, (b, w) in enumerate([(verifier_1, weight_1), (verifier_2, weight_2),
                                    (verifier_3, weight_3), (verifier_4, weight_4)], 1):
            if b is None:
                continue
            if not isinstance(b, BoundVerifier):
                raise TypeError(f"NoiseSearchEnsemble: input 'verifier_{i}' is not an NS_VERIFIER ({type(b).__name__})")
            members.append(WithPrompt(b.verifier, b.prompt))
            weights.append(float(w))
        if sum(weights) <= 0:
            raise ValueError("NoiseSearchEnsemble: inputs 'weight_*' are all 0; give at least one a positive weight")
        return (BoundVerifier(Ensemble(members, weights), ""),)


class NoiseSearchClassifier(_Base):
    DESCRIPTION = ("Classifier verifier: the logit of a target class from an image classifier "
                   "(e.g. ViT/DINOv2 ImageNet head), or CLIP zero-shot over class names.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"backend": (["image classifier", "CLIP zero-shot"],),
                             "model": (model_choices(DEFAULT_CLASSIFIER, files=False), {"default": DEFAULT_CLASSIFIER}),
                             "target": ("STRING", {"default": "tabby cat", "tooltip": "Class label (or its index)."}),
                             "mode": (["logit", "logprob", "prob"], {"tooltip": "image classifier only"})},
                "optional": {"model_override": OVERRIDE,
                             "class_names": ("STRING", {"multiline": True, "default": "",
                                                        "tooltip": "CLIP zero-shot: class names, one per line; "
                                                                   "the target must be one of them."}),
                             "download": DOWNLOAD}}

    def build(self, backend, model, target, mode="logit", model_override="", class_names="", download=True):
        spec = _spec(model, model_override)
        if backend == "CLIP zero-shot":
            names = [n.strip() for n in class_names.replace(",", "\n").splitlines() if n.strip()]
            if len(names) < 2:
                raise ValueError("NoiseSearchClassifier: input 'class_names' needs at least two names for CLIP zero-shot")
            if spec == DEFAULT_CLASSIFIER:
                spec = DEFAULT_CLIP
            key = ("zeroshot", spec, tuple(names), target)
            build = lambda: CLIPZeroShot.from_pretrained(names, target, spec, search_dirs())
        else:
            key = ("classifier", spec, target, mode)
            build = lambda: ClassifierLogit.from_pretrained(spec, target, search_dirs(), mode=mode)
        try:
            with _downloads(download):
                v = _cached(key, build)
        except ValueError as e:
            if "class" in str(e):
                _fail("NoiseSearchClassifier", "target", target, e)
            _fail("NoiseSearchClassifier", "model", spec, e)
        except Exception as e:  # noqa: BLE001
            _fail("NoiseSearchClassifier", "model_override" if (model_override or "").strip() else "model", spec, e)
        return (BoundVerifier(v, ""),)


class NoiseSearchSelfSupervised(_Base):
    DESCRIPTION = ("Self-supervised verifier: cosine similarity between features (DINOv2 or CLIP) of the "
                   "x0 prediction part-way down the trajectory and of the final image. No prompt.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (model_choices(DEFAULT_DINO, files=False), {"default": DEFAULT_DINO})},
                "optional": {"model_override": OVERRIDE, "download": DOWNLOAD}}

    def build(self, model, model_override="", download=True):
        spec = _spec(model, model_override)
        inp = "model_override" if (model_override or "").strip() else "model"
        v = _load("NoiseSearchSelfSupervised", inp, spec, ("selfsup", spec),
                  lambda: SelfSupervised.from_pretrained(spec, search_dirs()), download)
        return (BoundVerifier(v, ""),)


class NoiseSearchVLMJudge(_Base):
    DESCRIPTION = ("VLM judge: a local chat vision-language model (Qwen2.5-VL, Qwen3-VL, ...) grades each image. "
                   "Rubric modes score 0-10 as the expected value of the model's next-token probabilities over "
                   "the score tokens (one forward pass, deterministic); vqascore is P('Yes') in [0, 1].")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (model_choices(vlm.DEFAULT_VLM, files=False), {"default": vlm.DEFAULT_VLM}),
                             "mode": (list(vlm.MODES), {"default": "overall", "tooltip":
                                      "overall; mean (of the five axes, five questions per image); one axis "
                                      "(accuracy, creativity, quality, consistency, resonance); vqascore"}),
                             "prompt": PROMPT},
                "optional": {"model_override": OVERRIDE,
                             "rubric_template": ("STRING", {"multiline": True, "default": vlm.RUBRIC_TEMPLATE,
                                                            "tooltip": "Rubric question; {prompt} and {axis} are filled in."}),
                             "question_template": ("STRING", {"multiline": True, "default": vlm.QUESTION_TEMPLATE,
                                                              "tooltip": "vqascore question; {prompt} is filled in."}),
                             "download": DOWNLOAD}}

    def build(self, model, mode, prompt, model_override="", rubric_template=vlm.RUBRIC_TEMPLATE,
              question_template=vlm.QUESTION_TEMPLATE, download=True):
        spec = _spec(model, model_override)
        inp = "model_override" if (model_override or "").strip() else "model"
        for name, tpl in (("rubric_template", rubric_template), ("question_template", question_template)):
            try:
                tpl.format(prompt="p", axis="a")
            except (KeyError, IndexError, ValueError) as e:
                _fail("NoiseSearchVLMJudge", name, tpl, ValueError(f"use only {{prompt}} and {{axis}}: {e}"))
        v = _load("NoiseSearchVLMJudge", inp, spec, ("vlm", spec, mode, rubric_template, question_template),
                  lambda: VLMJudge.from_pretrained(spec, search_dirs(), mode=mode, rubric_template=rubric_template,
                                                   question_template=question_template), download)
        return (BoundVerifier(v, prompt),)


class NoiseSearchPickScore(_Base):
    DESCRIPTION = "PickScore verifier (human-preference reward on CLIP ViT-H/14): logit_scale·cos(image, prompt)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (model_choices(DEFAULT_PICKSCORE, files=False), {"default": DEFAULT_PICKSCORE}),
                             "prompt": PROMPT},
                "optional": {"model_override": OVERRIDE, "download": DOWNLOAD}}

    def build(self, model, prompt, model_override="", download=True):
        spec = _spec(model, model_override)
        inp = "model_override" if (model_override or "").strip() else "model"
        v = _load("NoiseSearchPickScore", inp, spec, ("pickscore", spec),
                  lambda: PickScore.from_pretrained(spec, search_dirs()), download)
        return (BoundVerifier(v, prompt),)


class NoiseSearchHPS(_Base):
    DESCRIPTION = "HPSv2.1 verifier (human-preference score, OpenCLIP ViT-H-14): cos(image, prompt)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (model_choices(DEFAULT_HPS, exts=(".pt", ".safetensors"), dirs=False),
                                       {"default": DEFAULT_HPS}),
                             "prompt": PROMPT},
                "optional": {"model_override": OVERRIDE, "download": DOWNLOAD}}

    def build(self, model, prompt, model_override="", download=True):
        spec = _spec(model, model_override)
        inp = "model_override" if (model_override or "").strip() else "model"
        v = _load("NoiseSearchHPS", inp, spec, ("hps", spec),
                  lambda: HPSv2.from_checkpoint(spec, search_dirs()), download)
        return (BoundVerifier(v, prompt),)


class NoiseSearchColorTarget(_Base):
    DESCRIPTION = "Weight-free verifier: closeness of the mean colour to a target colour."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"color": ("STRING", {"default": "#ff0000", "tooltip": "'#rrggbb' or 'r,g,b'"})}}

    def build(self, color):
        try:
            return (BoundVerifier(ColorTarget(color), ""),)
        except ValueError as e:
            _fail("NoiseSearchColorTarget", "color", color, e)


class NoiseSearchBrightness(_Base):
    DESCRIPTION = "Weight-free verifier: closeness of mean luminance to a target level."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"target": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def build(self, target):
        try:
            return (BoundVerifier(Brightness(target), ""),)
        except ValueError as e:
            _fail("NoiseSearchBrightness", "target", target, e)


class NoiseSearchSharpness(_Base):
    DESCRIPTION = "Weight-free verifier: mean |Laplacian| (detail / local contrast)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def build(self):
        return (BoundVerifier(Sharpness(), ""),)


class NoiseSearchScoreImages:
    DESCRIPTION = "Score an image batch with a verifier: best-of-N for any workflow."
    RETURN_TYPES = ("IMAGE", "IMAGE", "STRING", "FLOAT")
    RETURN_NAMES = ("sorted_images", "best_image", "scores_json", "best_score")
    FUNCTION = "run"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "verifier": ("NS_VERIFIER",)},
                "optional": {"mid_images": ("IMAGE", {"tooltip": "for self-supervised verifiers: the x0 "
                                                                 "predictions part-way, one per image"}),
                             "prompt": ("STRING", {"forceInput": True, "tooltip": "Optional: link the prompt here to "
                                                   "score against it instead of the verifier's own prompt "
                                                   "(ensemble members keep theirs)."})}}

    def run(self, images, verifier, mid_images=None, prompt=None):
        if not isinstance(verifier, BoundVerifier):
            raise TypeError(f"NoiseSearchScoreImages: input 'verifier' is not an NS_VERIFIER ({type(verifier).__name__})")
        if prompt is not None and not isinstance(verifier.verifier, Ensemble):
            verifier = BoundVerifier(verifier.verifier, str(prompt))
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
            raise ValueError("NoiseSearchScoreImages: input 'images' must be a non-empty IMAGE batch")
        if verifier.verifier.needs_mid_x0 and mid_images is None:
            raise ValueError(f"NoiseSearchScoreImages: input 'mid_images' is required by {verifier.name!r}")
        scores = score_images(verifier, images, mid_images).float()
        finite = torch.isfinite(scores)
        if not bool(finite.any()):
            raise ValueError(f"NoiseSearchScoreImages: verifier {verifier.name!r} gave no finite score for any of the "
                             f"{images.shape[0]} images (NaN images? check the input 'images')")
        # non-finite scores rank lowest; best first, stable on ties
        key = [float(s) if bool(f) else -float("inf") for s, f in zip(scores, finite)]
        order = sorted(range(len(key)), key=lambda i: (-key[i], i))
        idx = torch.tensor(order, dtype=torch.long)
        detail = {"verifier": verifier.describe(),
                  "scores": [float(s) for s in scores],
                  "order": order,
                  "best_index": order[0]}
        if isinstance(verifier.verifier, Ensemble):
            detail["members"] = {k: [float(x) for x in v] for k, v in verifier.verifier.last_member_scores.items()}
        detail = finite_json(detail)  # JSON has no NaN: non-finite scores become null
        best = images[order[0]:order[0] + 1]
        result = (images[idx.to(images.device)], best, json.dumps(detail, indent=1, default=str), key[order[0]])
        return {"ui": {"noise_search_scores": [detail]}, "result": result}


NODE_CLASS_MAPPINGS = {c.__name__: c for c in [
    NoiseSearchCLIPScore, NoiseSearchImageReward, NoiseSearchAesthetic, NoiseSearchEnsemble,
    NoiseSearchClassifier, NoiseSearchSelfSupervised, NoiseSearchColorTarget, NoiseSearchBrightness,
    NoiseSearchSharpness, NoiseSearchScoreImages, NoiseSearchVLMJudge, NoiseSearchPickScore, NoiseSearchHPS]}

NODE_DISPLAY_NAME_MAPPINGS = {
    "NoiseSearchCLIPScore": "Verifier: CLIPScore",
    "NoiseSearchImageReward": "Verifier: ImageReward",
    "NoiseSearchAesthetic": "Verifier: LAION Aesthetic",
    "NoiseSearchEnsemble": "Verifier: Ensemble (average rank)",
    "NoiseSearchClassifier": "Verifier: Classifier logit",
    "NoiseSearchSelfSupervised": "Verifier: Self-supervised (mid x0 vs final)",
    "NoiseSearchColorTarget": "Verifier: Colour target",
    "NoiseSearchBrightness": "Verifier: Brightness",
    "NoiseSearchSharpness": "Verifier: Sharpness",
    "NoiseSearchScoreImages": "Score Images (best-of-N)",
    "NoiseSearchVLMJudge": "Verifier: VLM judge (Qwen-VL rubric / VQAScore)",
    "NoiseSearchPickScore": "Verifier: PickScore",
    "NoiseSearchHPS": "Verifier: HPSv2.1",
}
