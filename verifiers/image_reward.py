"""ImageReward (Xu et al. 2023) from the official ``ImageReward.pt`` + ``med_config.json``.

Architecture (as THUDM/ImageReward's ``ImageReward.py`` on BLIP's ``vit.py``/``med.py``):
- BLIP ViT-L/16 image encoder at 224² (24 blocks, width 1024, 16 heads, LayerNorm eps 1e-6),
  here transformers' ``BlipVisionModel``;
- BERT-base text encoder with cross-attention over the image tokens in every layer (no token-type
  embeddings, no pooler), here transformers' ``BlipTextModel`` (config mapped from med_config);
- the reward head ``mlp.layers``: Linear 768→1024, Dropout, →128, Dropout, →64, Dropout, →16, →1
  (no activations);
- score = (head(text [CLS] state) − 0.16717362830052426) / 1.0333394966054072.

Text: BERT ``bert-base-uncased`` tokenizer with BLIP's two added tokens (``[DEC]`` as bos,
``[ENC]`` as additional special token; vocab 30524), ``padding='max_length'``, ``max_length=35``,
truncation. The official ``score``/``inference_rank`` feed the tokenizer's ids unchanged (first token
``[CLS]``; BLIP's ITM head swaps in ``[ENC]`` but ImageReward does not), so ``enc_token_first``
defaults to False; set it True to replace the first id with ``[ENC]`` as BLIP's ITM does.

Weights load through an explicit key map from the official layout (:func:`official_to_ours`);
any missing key, or any unexpected key other than the three the official model carries unused
(``blip.vision_proj.*``, ``blip.text_proj.*``, ``blip.text_encoder.embeddings.position_ids``),
is an error that lists them.
"""
from __future__ import annotations

import json
import os
import re
from typing import Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn

from .base import Verifier
from .loading import WeightsNotFoundError, find_file, load_state_dict, resolve
from .precision import fp32_forward
from .preprocess import clip_preprocess

DEFAULT_IMAGE_REWARD = "THUDM/ImageReward"
DEFAULT_TOKENIZER = "google-bert/bert-base-uncased"
CHECKPOINT_NAMES = ("ImageReward.pt", "ImageReward.pth", "ImageReward.safetensors")
SCORE_MEAN = 0.16717362830052426
SCORE_STD = 1.0333394966054072
MAX_TEXT_LEN = 35

#: the published med_config.json (used when none ships next to the checkpoint)
DEFAULT_MED_CONFIG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "type_vocab_size": 2,
    "vocab_size": 30524, "encoder_width": 768, "add_cross_attention": True,
}
#: BLIP ViT-L/16 as ImageReward builds it (create_vit('large', 224))
DEFAULT_VISION = dict(image_size=224, patch_size=16, width=1024, depth=24, heads=16, mlp=4096)

IGNORED_OFFICIAL = re.compile(r"^blip\.(vision_proj|text_proj)\.(weight|bias)$|^blip\.text_encoder\.embeddings\.position_ids$")

_VISION_RULES: List[Tuple[re.Pattern, str]] = [(re.compile(a), b) for a, b in [
    (r"cls_token", "embeddings.class_embedding"),
    (r"pos_embed", "embeddings.position_embedding"),
    (r"patch_embed\.proj\.(weight|bias)", r"embeddings.patch_embedding.\1"),
    (r"blocks\.(\d+)\.norm1\.(weight|bias)", r"encoder.layers.\1.layer_norm1.\2"),
    (r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", r"encoder.layers.\1.self_attn.qkv.\2"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"encoder.layers.\1.self_attn.projection.\2"),
    (r"blocks\.(\d+)\.norm2\.(weight|bias)", r"encoder.layers.\1.layer_norm2.\2"),
    (r"blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)", r"encoder.layers.\1.mlp.\2.\3"),
    (r"norm\.(weight|bias)", r"post_layernorm.\1"),
]]
_TEXT_RULE = re.compile(
    r"embeddings\.(word_embeddings|position_embeddings)\.weight|embeddings\.LayerNorm\.(weight|bias)"
    r"|encoder\.layer\.\d+\.(attention|crossattention)\.self\.(query|key|value)\.(weight|bias)"
    r"|encoder\.layer\.\d+\.(attention|crossattention)\.output\.(dense|LayerNorm)\.(weight|bias)"
    r"|encoder\.layer\.\d+\.(intermediate|output)\.dense\.(weight|bias)"
    r"|encoder\.layer\.\d+\.output\.LayerNorm\.(weight|bias)")
_MLP_RULE = re.compile(r"layers\.(0|2|4|6|7)\.(weight|bias)")


def official_to_ours(key: str) -> Optional[str]:
    """Map one official ``ImageReward.pt`` key to this module's state-dict key (None: no rule)."""
    if key.startswith("blip.visual_encoder."):
        rest = key[len("blip.visual_encoder."):]
        for pat, rep in _VISION_RULES:
            if pat.fullmatch(rest):
                return "visual_encoder." + pat.sub(rep, rest)
        return None
    if key.startswith("blip.text_encoder."):
        rest = key[len("blip.text_encoder."):]
        return "text_encoder." + rest if _TEXT_RULE.fullmatch(rest) else None
    if key.startswith("mlp."):
        rest = key[len("mlp."):]
        return "mlp." + rest if _MLP_RULE.fullmatch(rest) else None
    return None


def ours_to_official(key: str) -> str:
    """Inverse of :func:`official_to_ours` (for error messages and round-trip tests)."""
    if key.startswith("visual_encoder."):
        rest = key[len("visual_encoder."):]
        inv = [(r"embeddings\.class_embedding", "cls_token"), (r"embeddings\.position_embedding", "pos_embed"),
               (r"embeddings\.patch_embedding\.(weight|bias)", r"patch_embed.proj.\1"),
               (r"encoder\.layers\.(\d+)\.layer_norm1\.", r"blocks.\1.norm1."),
               (r"encoder\.layers\.(\d+)\.self_attn\.qkv\.", r"blocks.\1.attn.qkv."),
               (r"encoder\.layers\.(\d+)\.self_attn\.projection\.", r"blocks.\1.attn.proj."),
               (r"encoder\.layers\.(\d+)\.layer_norm2\.", r"blocks.\1.norm2."),
               (r"encoder\.layers\.(\d+)\.mlp\.", r"blocks.\1.mlp."), (r"post_layernorm\.", "norm.")]
        for a, b in inv:
            if re.match(a, rest):
                return "blip.visual_encoder." + re.sub(a, b, rest, count=1)
        return "blip.visual_encoder." + rest
    if key.startswith("text_encoder."):
        return "blip." + key
    return key


class RewardHead(nn.Module):
    """ImageReward's / the LAION aesthetic predictor's MLP: Linear layers at indices 0, 2, 4, 6, 7
    of ``layers`` with Dropouts between the first four and no activations."""

    def __init__(self, input_size: int = 768, dropouts=(0.2, 0.2, 0.1)):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, 1024), nn.Dropout(dropouts[0]),
            nn.Linear(1024, 128), nn.Dropout(dropouts[1]),
            nn.Linear(128, 64), nn.Dropout(dropouts[2]),
            nn.Linear(64, 16),
            nn.Linear(16, 1))

    def forward(self, x):
        return self.layers(x)


def vision_config_from_state_dict(sd: Dict[str, torch.Tensor], heads: Optional[int] = None) -> dict:
    v = "blip.visual_encoder."
    try:
        pos = sd[v + "pos_embed"]
        patch = sd[v + "patch_embed.proj.weight"]
    except KeyError as e:
        raise KeyError(f"ImageReward checkpoint lacks {e.args[0]!r}: not the official ImageReward.pt layout") from None
    width, n_tok, p = pos.shape[-1], pos.shape[1], patch.shape[-1]
    grid = int(round((n_tok - 1) ** 0.5))
    depth = 1 + max((int(m.group(1)) for k in sd for m in [re.match(re.escape(v) + r"blocks\.(\d+)\.", k)] if m),
                    default=-1)
    fc1 = sd.get(v + "blocks.0.mlp.fc1.weight")
    return dict(image_size=grid * p, patch_size=p, width=width, depth=depth,
                heads=heads or max(1, width // 64), mlp=fc1.shape[0] if fc1 is not None else 4 * width)


class ImageRewardModel(nn.Module):
    def __init__(self, med_config: dict, vision: dict = DEFAULT_VISION):
        super().__init__()
        from transformers import BlipTextConfig, BlipTextModel, BlipVisionConfig, BlipVisionModel
        vcfg = BlipVisionConfig(hidden_size=vision["width"], intermediate_size=vision.get("mlp", 4 * vision["width"]),
                                num_hidden_layers=vision["depth"], num_attention_heads=vision["heads"],
                                image_size=vision["image_size"], patch_size=vision["patch_size"],
                                hidden_act="gelu", layer_norm_eps=1e-6, attention_dropout=0.0)
        m = med_config
        tcfg = BlipTextConfig(vocab_size=m["vocab_size"], hidden_size=m["hidden_size"],
                              encoder_hidden_size=vision["width"],  # BLIP sets encoder_width = vision width
                              intermediate_size=m["intermediate_size"], num_hidden_layers=m["num_hidden_layers"],
                              num_attention_heads=m["num_attention_heads"],
                              max_position_embeddings=m["max_position_embeddings"],
                              hidden_act=m.get("hidden_act", "gelu"), layer_norm_eps=m.get("layer_norm_eps", 1e-12),
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                              pad_token_id=m.get("pad_token_id", 0), bos_token_id=None, eos_token_id=None,
                              sep_token_id=None,
                              is_decoder=bool(m.get("add_cross_attention", True)))  # builds the cross-attention
        self.vision_config, self.text_config = vcfg, tcfg
        self.visual_encoder = BlipVisionModel(vcfg)
        self.text_encoder = BlipTextModel(tcfg, add_pooling_layer=False)
        self.mlp = RewardHead(m["hidden_size"])

    def forward(self, pixel_values, input_ids, attention_mask):
        img = self.visual_encoder(pixel_values=pixel_values).last_hidden_state
        img_att = torch.ones(img.shape[:-1], dtype=torch.long, device=img.device)
        if img.device.type == "meta":  # FLOP counting without weights: masks are data-dependent
            attention_mask = img_att = None
        out = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=img,
                                encoder_attention_mask=img_att, is_decoder=False)
        feat = out.last_hidden_state[:, 0, :]
        raw = fp32_forward(self.mlp, feat).squeeze(-1)  # the head in fp32 even when the backbone is half
        return (raw - SCORE_MEAN) / SCORE_STD


class ImageRewardKeyError(KeyError):
    def __init__(self, message, missing=(), unexpected=()):
        super().__init__(message)
        self.missing, self.unexpected = list(missing), list(unexpected)

    def __str__(self):
        return self.args[0]


def map_official_state_dict(sd: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Rename an official state dict to ``model``'s keys; raise :class:`ImageRewardKeyError` naming
    every missing official key and every unexpected one (beyond the three known unused keys)."""
    expected = set(model.state_dict().keys())
    mapped, unexpected = {}, []
    for k, v in sd.items():
        if IGNORED_OFFICIAL.match(k):
            continue
        ours = official_to_ours(k)
        if ours is None or ours not in expected:
            unexpected.append(k)
        else:
            mapped[ours] = v
    missing = sorted(ours_to_official(k) for k in expected - set(mapped))
    if missing or unexpected:
        def listing(keys):
            keys = sorted(keys)
            return "\n    " + "\n    ".join(keys[:40]) + (f"\n    ... and {len(keys) - 40} more" if len(keys) > 40 else "")
        msg = "ImageReward checkpoint does not match the official layout."
        if missing:
            msg += f"\n  missing keys ({len(missing)}):" + listing(missing)
        if unexpected:
            msg += f"\n  unexpected keys ({len(unexpected)}):" + listing(unexpected)
        raise ImageRewardKeyError(msg, missing, unexpected)
    for k, v in mapped.items():
        want = model.state_dict()[k].shape
        if tuple(v.shape) != tuple(want):
            raise ImageRewardKeyError(f"ImageReward checkpoint key {ours_to_official(k)!r} has shape "
                                      f"{tuple(v.shape)}, expected {tuple(want)} (med_config.json mismatch?)")
    return mapped


def build_model(sd: Dict[str, torch.Tensor], med_config: dict, vision_heads: Optional[int] = None,
                dtype: Optional[torch.dtype] = None) -> ImageRewardModel:
    """Build on the meta device and assign the checkpoint tensors (no random init of 450M params)."""
    vision = vision_config_from_state_dict(sd, vision_heads)
    with torch.device("meta"):
        model = ImageRewardModel(med_config, vision)
    mapped = map_official_state_dict(sd, model)
    model.load_state_dict(mapped, strict=True, assign=True)
    for mod_name, mod in model.named_modules():  # non-persistent buffers are still on meta
        for b_name, buf in list(mod._buffers.items()):
            if buf is not None and buf.is_meta:
                if b_name == "position_ids":
                    mod._buffers[b_name] = torch.arange(buf.shape[-1]).expand(buf.shape).clone()
                else:
                    raise RuntimeError(f"ImageReward: buffer {mod_name}.{b_name} was not initialised")
    if dtype is not None:
        model.to(dtype)
    return model.eval().requires_grad_(False)


def init_blip_tokenizer(path: str):
    """BLIP's ``init_tokenizer``: BERT tokenizer + ``[DEC]`` (bos) + ``[ENC]`` (additional special)."""
    from transformers import BertTokenizer
    tok = BertTokenizer.from_pretrained(path)
    if tok.convert_tokens_to_ids("[DEC]") in (None, tok.unk_token_id):
        tok.add_special_tokens({"bos_token": "[DEC]"})
    if tok.convert_tokens_to_ids("[ENC]") in (None, tok.unk_token_id):
        tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    tok.enc_token_id = tok.convert_tokens_to_ids("[ENC]")
    return tok


def resolve_tokenizer(spec: Optional[str], near: str, search_dirs: Iterable[str]) -> str:
    """A BERT tokenizer folder (with vocab.txt or tokenizer.json): an explicit ``spec``; else next to
    the checkpoint (``bert-base-uncased/``, ``tokenizer/``, or the folder itself); else
    ``models/verifiers/bert-base-uncased``; else the HF cache (``google-bert/bert-base-uncased``)."""
    has_vocab = lambda d: os.path.isdir(d) and any(os.path.isfile(os.path.join(d, f)) for f in ("vocab.txt", "tokenizer.json"))
    looked = []
    if spec:
        cands = [spec]
    else:
        cands = [os.path.join(near, "bert-base-uncased"), os.path.join(near, "tokenizer"), near]
        cands += [os.path.join(d, "bert-base-uncased") for d in search_dirs]
    for c in cands:
        if has_vocab(c):
            return c
        looked.append(f"local path: {os.path.abspath(c)}")
    try:
        return resolve(spec or DEFAULT_TOKENIZER, search_dirs if spec else (), what="ImageReward text tokenizer",
                       required=("vocab.txt",) if not spec else (), allow_patterns=("*.json", "*.txt"))
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(
            "ImageReward text tokenizer (bert-base-uncased) not found. Looked in:\n  - " +
            "\n  - ".join(looked + e.looked) +
            f"\nTo fix: `hf download {DEFAULT_TOKENIZER} vocab.txt tokenizer.json tokenizer_config.json`, "
            f"or copy a bert-base-uncased folder next to ImageReward.pt.", looked + e.looked) from None


class ImageReward(Verifier):
    """ImageReward score (higher = more preferred by humans for this prompt); typical range ±2."""

    uses_prompt = True

    def __init__(self, model: ImageRewardModel, tokenizer, name: str = "image_reward",
                 enc_token_first: bool = False, max_length: int = MAX_TEXT_LEN):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.enc_token_first = bool(enc_token_first)
        self.max_length = int(max_length)
        size = model.vision_config.image_size
        self.preprocess = clip_preprocess(size)
        self.input_size = (size, size)

    @classmethod
    def from_pretrained(cls, spec: str = DEFAULT_IMAGE_REWARD, search_dirs: Iterable[str] = (),
                        tokenizer: Optional[str] = None, med_config: Optional[str] = None,
                        vision_heads: Optional[int] = None, dtype: Optional[torch.dtype] = None,
                        **kw) -> "ImageReward":
        search_dirs = list(search_dirs)
        path = resolve(spec, search_dirs, what="ImageReward checkpoint", default_filename="ImageReward.pt",
                       how_to_get=None)
        if os.path.isdir(path):
            ckpt = find_file(path, CHECKPOINT_NAMES, (".pt", ".pth", ".safetensors"))
            if ckpt is None:
                raise WeightsNotFoundError(f"ImageReward: folder {path} holds no ImageReward.pt", [path])
        else:
            ckpt = path
        folder = os.path.dirname(ckpt)
        med = dict(DEFAULT_MED_CONFIG)
        med_path = med_config or os.path.join(folder, "med_config.json")
        if os.path.isfile(med_path):
            with open(med_path) as f:
                med.update(json.load(f))
        elif med_config:
            raise FileNotFoundError(f"ImageReward med_config {med_config!r} not found")
        tok = init_blip_tokenizer(resolve_tokenizer(tokenizer, folder, search_dirs))
        if len(tok) > med["vocab_size"]:
            raise ValueError(f"ImageReward: tokenizer has {len(tok)} tokens but med_config vocab_size is "
                             f"{med['vocab_size']}; wrong tokenizer?")
        model = build_model(load_state_dict(ckpt), med, vision_heads, dtype)
        return cls(model, tok, name=kw.pop("name", "image_reward"), **kw)

    def modules(self):
        return [self.model]

    def tokenize(self, prompts: List[str]):
        t = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                           return_tensors="pt")
        ids = t["input_ids"].clone()
        if self.enc_token_first:
            ids[:, 0] = self.tokenizer.enc_token_id
        return ids, t["attention_mask"]

    def _score(self, images, prompts, mid_images):
        px = self.preprocess(images, device=self.device, dtype=self.dtype)
        ids, mask = self.tokenize(prompts)
        return self.model(px, ids.to(self.device), mask.to(self.device))
