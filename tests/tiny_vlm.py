"""Tiny random-weight chat VLMs (Qwen2-VL / Qwen2.5-VL architecture) saved with ``save_pretrained``,
with a processor (image processor + byte-level BPE tokenizer + chat template) built offline.

The tokenizer is a real byte-level BPE (``tokenizers``) with Qwen's special tokens and digits as
single tokens, so ``AutoProcessor`` / ``AutoModelForImageTextToText`` load the folder exactly as
they load ``Qwen/Qwen2.5-VL-3B-Instruct``. Nothing here downloads anything.
"""
from __future__ import annotations

import os

import torch

from tests.tiny_models import TINY_WORDS, _bytes_to_unicode, seed_init

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]
EXTRA_WORDS = ["Yes", "No", "Does", "this", "image", "show", "Rate", "score", "from", "to", "system",
               "user", "assistant", "Answer", "with", "only", "number"]

# The chat template of Qwen2-VL instruct checkpoints (images become vision_start/image_pad/vision_end).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def make_tokenizer(path: str):
    """A Qwen2 tokenizer (byte-level BPE, one token per digit) with a tiny vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    merges = []
    space = chars[ord(" ")]
    for w in TINY_WORDS + EXTRA_WORDS:
        for word in (w, space + w):
            cur = word[0]
            for ch in word[1:]:
                merges.append((cur, ch))
                cur = cur + ch
                vocab.setdefault(cur, len(vocab))
    merges = list(dict.fromkeys(merges))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=__import__("tokenizers").Regex(r"\p{N}| ?[^\s\p{N}]+|\s+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    import transformers
    # transformers 4.x: the Qwen2-VL processor accepts only its own tokenizer classes
    cls = PreTrainedTokenizerFast if int(transformers.__version__.split(".")[0]) >= 5 else transformers.Qwen2TokenizerFast
    tok = cls(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=SPECIALS[1:])
    tok.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    tok.save_pretrained(path)
    return tok


def make_vlm_dir(path: str, seed: int = 0, arch: str = "qwen2_vl") -> str:
    """A tiny ``arch`` model (``qwen2_vl`` or ``qwen2_5_vl``) + processor in ``path``."""
    from transformers import AutoProcessor
    os.makedirs(path, exist_ok=True)
    tok = make_tokenizer(path)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    vision = dict(depth=2, hidden_size=32, num_heads=2, patch_size=4, spatial_merge_size=2,
                  temporal_patch_size=2, in_channels=3)
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig as Config, Qwen2_5_VLForConditionalGeneration as Model
        vision.update(intermediate_size=64, out_hidden_size=32, window_size=16, fullatt_block_indexes=[1])
    else:
        from transformers import Qwen2VLConfig as Config, Qwen2VLForConditionalGeneration as Model
        vision.update(embed_dim=32, mlp_ratio=2)
    import inspect
    if "text_config" not in inspect.signature(Config.__init__).parameters:
        # transformers before the text_config split (4.50/4.51): the text fields at the top level,
        # the rope settings as rope_scaling / rope_theta
        rope = text.pop("rope_parameters")
        text.update(rope_theta=rope["rope_theta"], rope_scaling={"type": "mrope", "mrope_section": rope["mrope_section"]})
        cfg = Config(vision_config=vision, image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                     vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"], **text)
    else:
        cfg = Config(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                     video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                     vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    model = seed_init(Model(cfg), seed, std=0.2).eval()
    model.save_pretrained(path)
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor
    ip = Qwen2VLImageProcessor(patch_size=4, merge_size=2, temporal_patch_size=2, min_pixels=16 * 16,
                               max_pixels=32 * 32)
    try:
        from transformers import Qwen2VLVideoProcessor
        vp = Qwen2VLVideoProcessor(patch_size=4, merge_size=2, temporal_patch_size=2)
    except Exception:  # pragma: no cover - video processor needs torchvision
        vp = None
    Qwen2VLProcessor(image_processor=ip, tokenizer=tok, video_processor=vp, chat_template=CHAT_TEMPLATE).save_pretrained(path)
    AutoProcessor.from_pretrained(path)  # fail here, not in the test, if the folder does not load
    return path
