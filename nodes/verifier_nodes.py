"""The verifier family: nodes that build verifiers (``NS_VERIFIER``), each bound to its prompt.

Each loader's ``model`` combo lists what is found locally (nodes/verifier_loading.py) plus the default
Hugging Face id; the optional ``model_override`` STRING (a path or any Hugging Face id, ``org/name``
or ``org/name:file``) wins when non-empty. Nothing is loaded when nodes are defined; loading happens
when the node runs, and loaded verifiers are shared between nodes asking for the same thing.
Every node's description and output tooltip say what its score is and its range (higher = better).
"""
from __future__ import annotations

from comfy_api.latest import io

from ..verifiers import (AestheticScore, Brightness, CLIPScore, CLIPZeroShot, ClassifierLogit, ColorTarget,
                         Ensemble, HPSv2, ImageReward, PickScore, SelfSupervised, Sharpness, VLMJudge, WithPrompt)
from ..verifiers import vlm
from ..verifiers.reward_models import DEFAULT_HPS, DEFAULT_PICKSCORE
from ..verifiers.aesthetic import DEFAULT_HEAD
from ..verifiers.clip import DEFAULT_CLIP
from ..verifiers.image_reward import DEFAULT_IMAGE_REWARD
from ..verifiers.self_supervised import DEFAULT_DINO
from .schema import VERIFIER_CATEGORY as CATEGORY, Verifier, out, schema
from .verifier_loading import _cached, _downloads, _fail, _load, _spec, model_choices, search_dirs
from .verifier_runtime import BoundVerifier

DEFAULT_CLASSIFIER = "google/vit-base-patch16-224"
ALIASES = ["verifier", "reward model", "image score", "judge", "scorer"]


def override(id_="model_override"):
    return io.String.Input(id_, default="", optional=True,
                           tooltip="Optional: a local path or a Hugging Face id (org/name or org/name:file); "
                                   "overrides the combo when not empty.")


def prompt_input():
    return io.String.Input("prompt", multiline=True, default="",
                           tooltip="The prompt the images are scored against. Link it to the String node that also "
                                   "feeds CLIPTextEncode, so the prompt is typed once.")


def download_input():
    return io.Boolean.Input("download", default=True, optional=True,
                            tooltip="Download missing weights from the Hugging Face hub into models/verifiers/<name>/ "
                                    "on first use (never when HF_HUB_OFFLINE is set).")


def model_combo(id_, default, tooltip, **kw):
    return io.Combo.Input(id_, options=model_choices(default, **kw), default=default, tooltip=tooltip)


def verifier_schema(node_id, display_name, description, score, inputs, aliases=()):
    """A verifier node's schema: ``score`` says what the verifier's score is and its range."""
    return schema(node_id=node_id, display_name=display_name, category=CATEGORY,
                  description=f"{description} Score: {score}. The search keeps the highest score.",
                  search_aliases=ALIASES + list(aliases), inputs=inputs,
                  outputs=[out(Verifier, "verifier", f"A verifier for a search node or Score Images. Score: {score} "
                                                     "(higher = better).")])


def _which(model_override, name="model"):
    return "model_override" if (model_override or "").strip() else name


class NoiseSearchCLIPScore(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchCLIPScore", "Verifier: CLIPScore",
            "CLIPScore: how well the image matches the prompt, by the cosine of CLIP's image and text embeddings.",
            "100·max(cos(image, prompt), 0), 0 to 100 (typically 20-35); with clamp_negative off, -100 to 100",
            [model_combo("model", DEFAULT_CLIP, "A CLIP model folder under models/verifiers, or the default Hugging "
                                                "Face id (downloaded on first use).", files=False),
             prompt_input(), override(),
             io.Boolean.Input("clamp_negative", default=True, optional=True,
                              tooltip="CLIPScore clamps cos < 0 to 0; off: 100·cos, which still ranks when all "
                                      "cosines are negative."),
             download_input()],
            aliases=["clip", "clip score", "prompt alignment", "text image similarity"])

    @classmethod
    def execute(cls, model, prompt, model_override="", clamp_negative=True, download=True):
        spec = _spec(model, model_override)
        v = _load("NoiseSearchCLIPScore", _which(model_override), spec, ("clip", spec, bool(clamp_negative)),
                  lambda: CLIPScore.from_pretrained(spec, search_dirs(), clamp=bool(clamp_negative)), download)
        return io.NodeOutput(BoundVerifier(v, prompt))


class NoiseSearchImageReward(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchImageReward", "Verifier: ImageReward",
            "ImageReward: a reward model trained on human preferences between images for a prompt "
            "(ImageReward.pt + med_config.json, BERT tokenizer).",
            "a reward, unbounded, about -2 to +2 (0 = an average image for its prompt)",
            [model_combo("model", DEFAULT_IMAGE_REWARD, "ImageReward checkpoint (a folder or ImageReward.pt under "
                                                        "models/verifiers), or the default Hugging Face id.",
                         exts=(".pt", ".pth", ".safetensors")),
             prompt_input(), override(),
             io.String.Input("tokenizer_override", default="", optional=True,
                             tooltip="Optional folder or HF id of the bert-base-uncased tokenizer (default: next to "
                                     "the checkpoint, models/verifiers/bert-base-uncased, or the HF cache)."),
             download_input()],
            aliases=["human preference", "reward"])

    @classmethod
    def execute(cls, model, prompt, model_override="", tokenizer_override="", download=True):
        spec = _spec(model, model_override)
        tok = (tokenizer_override or "").strip() or None
        v = _load("NoiseSearchImageReward", _which(model_override), spec, ("image_reward", spec, tok),
                  lambda: ImageReward.from_pretrained(spec, search_dirs(), tokenizer=tok), download)
        return io.NodeOutput(BoundVerifier(v, prompt))


class NoiseSearchAesthetic(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchAesthetic", "Verifier: LAION Aesthetic",
            "LAION aesthetic predictor: an MLP on CLIP ViT-L/14 image embeddings predicting the mean human rating. "
            "Takes no prompt.",
            "predicted mean rating, 1 to 10 (typically 4-7)",
            [model_combo("head", DEFAULT_HEAD, "The aesthetic MLP head (.pth) under models/verifiers, or the default "
                                               "file (downloaded on first use).",
                         exts=(".pth", ".pt", ".safetensors"), dirs=False),
             model_combo("clip_model", DEFAULT_CLIP, "The CLIP ViT-L/14 the head was trained on (a folder under "
                                                     "models/verifiers, or the Hugging Face id).", files=False),
             override("head_override"), override("clip_override"), download_input()],
            aliases=["aesthetic score", "laion", "beauty", "quality"])

    @classmethod
    def execute(cls, head, clip_model, head_override="", clip_override="", download=True):
        h, c = _spec(head, head_override), _spec(clip_model, clip_override)
        names = {"head": ("head_override" if (head_override or "").strip() else "head", h),
                 "clip": ("clip_override" if (clip_override or "").strip() else "clip_model", c)}
        try:
            with _downloads(download):
                v = _cached(("aesthetic", h, c), lambda: AestheticScore.from_pretrained(h, c, search_dirs()))
        except Exception as e:  # noqa: BLE001 - re-raised naming the input(s) at fault
            bad = [names[p] for p in getattr(e, "bad_input", ()) if p in names] or list(names.values())
            _fail("NoiseSearchAesthetic", "/".join(n for n, _ in bad), " + ".join(x for _, x in bad), e)
        return io.NodeOutput(BoundVerifier(v, ""))


class NoiseSearchEnsemble(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        def w(i, optional=False):
            return io.Float.Input(f"weight_{i}", default=1.0, min=0.0, max=100.0, step=0.05, optional=optional,
                                  tooltip=f"Weight of verifier_{i} in the mean rank (relative; 0 = ignored).")

        def v(i, optional=False):
            return Verifier.Input(f"verifier_{i}", optional=optional,
                                  tooltip=f"Member {i}: any verifier node (it keeps its own prompt).")
        return verifier_schema(
            "NoiseSearchEnsemble", "Verifier: Ensemble (average rank)",
            "Ensemble of 2-4 verifiers: each ranks the candidates it is shown together (ties share their mean "
            "rank) and the ensemble takes the weighted mean of the ranks, so scales of different verifiers never "
            "mix. Each member keeps its own prompt.",
            "weighted mean rank within each compared set, 1 to the set's size",
            [v(1), v(2), w(1), w(2), v(3, True), v(4, True), w(3, True), w(4, True)],
            aliases=["combine verifiers", "rank average", "multiple verifiers"])

    @classmethod
    def execute(cls, verifier_1, verifier_2, weight_1=1.0, weight_2=1.0, verifier_3=None, verifier_4=None,
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
        return io.NodeOutput(BoundVerifier(Ensemble(members, weights), ""))


class NoiseSearchClassifier(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchClassifier", "Verifier: Classifier logit",
            "Classifier verifier: how strongly an image classifier (e.g. a ViT ImageNet head) sees a target class, "
            "or CLIP zero-shot over class names you give. Takes no prompt.",
            "image classifier: logit (unbounded), log-prob (≤ 0) or prob (0 to 1) of the target; CLIP zero-shot: "
            "the target's probability among class_names (0 to 1)",
            [io.Combo.Input("backend", options=["image classifier", "CLIP zero-shot"],
                            tooltip="image classifier: a model with its own labels (the ImageNet classes); CLIP "
                                    "zero-shot: a CLIP model over class_names."),
             model_combo("model", DEFAULT_CLASSIFIER, "A classifier (or, for zero-shot, CLIP) folder under "
                                                      "models/verifiers, or the default Hugging Face id.", files=False),
             io.String.Input("target", default="tabby cat", tooltip="Class label (or its index) to steer towards."),
             io.Combo.Input("mode", options=["logit", "logprob", "prob"],
                            tooltip="Image classifier only: the target's logit, log-probability or probability."),
             override(),
             io.String.Input("class_names", multiline=True, default="", optional=True,
                             tooltip="CLIP zero-shot: class names, one per line; the target must be one of them."),
             download_input()],
            aliases=["classifier", "class guidance", "imagenet", "zero-shot"])

    @classmethod
    def execute(cls, backend, model, target, mode="logit", model_override="", class_names="", download=True):
        spec = _spec(model, model_override)
        if backend == "CLIP zero-shot":
            names = [n.strip() for n in class_names.replace(",", "\n").splitlines() if n.strip()]
            if len(names) < 2:
                raise ValueError("NoiseSearchClassifier: input 'class_names' needs at least two names for CLIP zero-shot")
            if spec == DEFAULT_CLASSIFIER:
                spec = DEFAULT_CLIP
            key = ("zeroshot", spec, tuple(names), target)
            build = lambda: CLIPZeroShot.from_pretrained(names, target, spec, search_dirs())  # noqa: E731
        else:
            key = ("classifier", spec, target, mode)
            build = lambda: ClassifierLogit.from_pretrained(spec, target, search_dirs(), mode=mode)  # noqa: E731
        try:
            with _downloads(download):
                v = _cached(key, build)
        except ValueError as e:
            if "class" in str(e):
                _fail("NoiseSearchClassifier", "target", target, e)
            _fail("NoiseSearchClassifier", "model", spec, e)
        except Exception as e:  # noqa: BLE001
            _fail("NoiseSearchClassifier", _which(model_override), spec, e)
        return io.NodeOutput(BoundVerifier(v, ""))


class NoiseSearchSelfSupervised(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchSelfSupervised", "Verifier: Self-supervised (mid x0 vs final)",
            "Self-supervised verifier: cosine similarity between features (DINOv2 or CLIP) of the x0 prediction "
            "part-way down the trajectory and of the final image: trajectories that settle early score high. "
            "Takes no prompt.",
            "cosine similarity, -1 to 1 (typically 0.5-1)",
            [model_combo("model", DEFAULT_DINO, "A DINOv2 or CLIP folder under models/verifiers, or the default "
                                                "Hugging Face id.", files=False),
             override(), download_input()],
            aliases=["dino", "dinov2", "consistency"])

    @classmethod
    def execute(cls, model, model_override="", download=True):
        spec = _spec(model, model_override)
        v = _load("NoiseSearchSelfSupervised", _which(model_override), spec, ("selfsup", spec),
                  lambda: SelfSupervised.from_pretrained(spec, search_dirs()), download)
        return io.NodeOutput(BoundVerifier(v, ""))


class NoiseSearchVLMJudge(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchVLMJudge", "Verifier: VLM judge (Qwen-VL rubric / VQAScore)",
            "VLM judge: a local chat vision-language model (Qwen2.5-VL, Qwen3-VL, ...) grades each image. Rubric "
            "modes take the expected value of the model's next-token probabilities over the score tokens (one "
            "forward pass, deterministic); vqascore is P('Yes') to \"Does this image show {prompt}?\".",
            "rubric modes 0 to 10; vqascore 0 to 1",
            [model_combo("model", vlm.DEFAULT_VLM, "A chat VLM folder under models/verifiers, or the default Hugging "
                                                   "Face id (7.5 GB).", files=False),
             io.Combo.Input("mode", options=list(vlm.MODES), default="overall",
                            tooltip="overall; mean (of the five axes, five questions per image); one axis (accuracy, "
                                    "creativity, quality, consistency, resonance); vqascore"),
             prompt_input(), override(),
             io.String.Input("rubric_template", multiline=True, default=vlm.RUBRIC_TEMPLATE, optional=True,
                             tooltip="Rubric question; {prompt} and {axis} are filled in."),
             io.String.Input("question_template", multiline=True, default=vlm.QUESTION_TEMPLATE, optional=True,
                             tooltip="vqascore question; {prompt} is filled in."),
             download_input()],
            aliases=["vlm", "qwen", "llm judge", "vqascore", "vision language model"])

    @classmethod
    def execute(cls, model, mode, prompt, model_override="", rubric_template=vlm.RUBRIC_TEMPLATE,
                question_template=vlm.QUESTION_TEMPLATE, download=True):
        spec = _spec(model, model_override)
        for name, tpl in (("rubric_template", rubric_template), ("question_template", question_template)):
            try:
                tpl.format(prompt="p", axis="a")
            except (KeyError, IndexError, ValueError) as e:
                _fail("NoiseSearchVLMJudge", name, tpl, ValueError(f"use only {{prompt}} and {{axis}}: {e}"))
        v = _load("NoiseSearchVLMJudge", _which(model_override), spec,
                  ("vlm", spec, mode, rubric_template, question_template),
                  lambda: VLMJudge.from_pretrained(spec, search_dirs(), mode=mode, rubric_template=rubric_template,
                                                   question_template=question_template), download)
        return io.NodeOutput(BoundVerifier(v, prompt))


class NoiseSearchPickScore(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchPickScore", "Verifier: PickScore",
            "PickScore: a human-preference reward on CLIP ViT-H/14, trained on Pick-a-Pic choices.",
            "logit_scale·cos(image, prompt), at most 100 (typically 18-23)",
            [model_combo("model", DEFAULT_PICKSCORE, "A PickScore folder under models/verifiers, or the default "
                                                     "Hugging Face id.", files=False),
             prompt_input(), override(), download_input()],
            aliases=["pick score", "human preference", "pick-a-pic"])

    @classmethod
    def execute(cls, model, prompt, model_override="", download=True):
        spec = _spec(model, model_override)
        v = _load("NoiseSearchPickScore", _which(model_override), spec, ("pickscore", spec),
                  lambda: PickScore.from_pretrained(spec, search_dirs()), download)
        return io.NodeOutput(BoundVerifier(v, prompt))


class NoiseSearchHPS(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchHPS", "Verifier: HPSv2.1",
            "HPSv2.1: a human-preference score on OpenCLIP ViT-H-14 (needs open_clip_torch).",
            "cos(image, prompt), -1 to 1 (typically 0.2-0.35)",
            [model_combo("model", DEFAULT_HPS, "The HPS_v2.1 checkpoint under models/verifiers, or the default "
                                               "Hugging Face file.", exts=(".pt", ".safetensors"), dirs=False),
             prompt_input(), override(), download_input()],
            aliases=["hps", "hpsv2", "human preference score"])

    @classmethod
    def execute(cls, model, prompt, model_override="", download=True):
        spec = _spec(model, model_override)
        v = _load("NoiseSearchHPS", _which(model_override), spec, ("hps", spec),
                  lambda: HPSv2.from_checkpoint(spec, search_dirs()), download)
        return io.NodeOutput(BoundVerifier(v, prompt))


class NoiseSearchColorTarget(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchColorTarget", "Verifier: Colour target",
            "Weight-free verifier: how close the image's mean colour is to a target colour. No weights, no prompt: "
            "a quick way to see a search work.",
            "−‖mean RGB − target‖ with RGB in 0-1, -1.73 to 0 (0 = exactly the target)",
            [io.String.Input("color", default="#ff0000", tooltip="Target colour: '#rrggbb' or 'r,g,b' (0-255 or 0-1).")],
            aliases=["color", "colour", "mean color", "weight-free"])

    @classmethod
    def execute(cls, color):
        try:
            return io.NodeOutput(BoundVerifier(ColorTarget(color), ""))
        except ValueError as e:
            _fail("NoiseSearchColorTarget", "color", color, e)


class NoiseSearchBrightness(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchBrightness", "Verifier: Brightness",
            "Weight-free verifier: how close the image's mean luminance is to a target level. No weights, no prompt.",
            "−|mean luminance − target|, -1 to 0 (0 = exactly the target)",
            [io.Float.Input("target", default=0.5, min=0.0, max=1.0, step=0.01,
                            tooltip="Target mean luminance: 0 = black, 1 = white.")],
            aliases=["luminance", "exposure", "dark", "bright", "weight-free"])

    @classmethod
    def execute(cls, target):
        try:
            return io.NodeOutput(BoundVerifier(Brightness(target), ""))
        except ValueError as e:
            _fail("NoiseSearchBrightness", "target", target, e)


class NoiseSearchSharpness(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return verifier_schema(
            "NoiseSearchSharpness", "Verifier: Sharpness",
            "Weight-free verifier: mean |Laplacian| of the luminance (detail / local contrast). No weights, no "
            "prompt.",
            "mean |Laplacian|, 0 and up (0 = flat image)", [],
            aliases=["detail", "laplacian", "blur", "weight-free"])

    @classmethod
    def execute(cls):
        return io.NodeOutput(BoundVerifier(Sharpness(), ""))


NODES = [NoiseSearchCLIPScore, NoiseSearchImageReward, NoiseSearchAesthetic, NoiseSearchEnsemble,
         NoiseSearchClassifier, NoiseSearchSelfSupervised, NoiseSearchColorTarget, NoiseSearchBrightness,
         NoiseSearchSharpness, NoiseSearchVLMJudge, NoiseSearchPickScore, NoiseSearchHPS]
