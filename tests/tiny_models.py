"""Builders of tiny random-weight verifier models, saved in the same formats as the real ones.

Used by the unit tests (tests/unit/test_verifier*.py) and reusable by host tests. Every builder is
deterministic (fixed seeds) and fast on one CPU thread. Nothing here downloads anything.

- :func:`make_clip_dir`: a ``CLIPModel`` + CLIP BPE tokenizer + preprocessor_config.json
  (``save_pretrained`` layout, like ``openai/clip-vit-large-patch14``);
- :func:`make_image_reward_files`: ``ImageReward.pt`` in the *official* key layout
  (``blip.visual_encoder.*``, ``blip.text_encoder.*``, ``mlp.layers.*``) + ``med_config.json`` +
  a BERT tokenizer folder;
- :func:`make_aesthetic_head`: the LAION aesthetic head in either published format;
- :func:`make_vit_classifier_dir` / :func:`make_dinov2_dir`: image classifier / feature models;
- :func:`make_hf_cache`: a Hugging Face cache layout (``hub/models--org--name/snapshots/<rev>/`` +
  ``refs/main``) holding any folder under a real hub id.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Dict, Optional

import torch

TINY_WORDS = ["a", "an", "the", "photo", "of", "cat", "dog", "red", "blue", "green", "car", "tree",
              "house", "apple", "sky", "painting", "in", "on", "with", "and"]


def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return [chr(c) for c in cs]


def clip_vocab():
    """A byte-level BPE vocabulary in CLIP's format: all byte chars (with and without ``</w>``),
    whole-word merges for :data:`TINY_WORDS`, then the two special tokens."""
    chars = _bytes_to_unicode()
    vocab: Dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges = []
    for w in TINY_WORDS:
        cur = w[0]
        for i, ch in enumerate(w[1:], 1):
            nxt = ch + ("</w>" if i == len(w) - 1 else "")
            merges.append(f"{cur} {nxt}")
            cur = cur + nxt
            if cur not in vocab:
                vocab[cur] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, list(dict.fromkeys(merges))


def seed_init(module: torch.nn.Module, seed: int, std: float = 0.3) -> torch.nn.Module:
    """Re-draw every floating parameter from a fixed seed (N(0, std²); LayerNorm weights around 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.ndim == 1 and ("norm" in name.lower() or name.endswith("LayerNorm.weight")) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * r)
            else:
                p.copy_(std * r)
    return module


def make_clip_tokenizer(path: str):
    from transformers import CLIPTokenizer
    vocab, merges = clip_vocab()
    try:
        tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges])
    except TypeError:  # transformers 4.x: the tokenizer reads vocab.json and merges.txt files
        os.makedirs(path, exist_ok=True)
        vf, mf = os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt")
        with open(vf, "w") as f:
            json.dump(vocab, f)
        with open(mf, "w") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        tok = CLIPTokenizer(vocab_file=vf, merges_file=mf)
    tok.model_max_length = 16
    tok.save_pretrained(path)
    return tok


def tiny_clip_config(proj: int = 16):
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig
    vocab, _ = clip_vocab()
    text = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, max_position_embeddings=16, projection_dim=proj,
                          bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                          pad_token_id=vocab["<|endoftext|>"])
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8, projection_dim=proj)
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=proj)


def write_preprocessor_config(path: str, size: int, crop: Optional[int] = None, mean=None, std=None,
                              shortest_edge: bool = True, processor: str = "CLIPImageProcessor"):
    from verifiers.preprocess import CLIP_MEAN, CLIP_STD
    cfg = {"image_processor_type": processor, "do_resize": True, "resample": 3,
           "size": {"shortest_edge": size} if shortest_edge else {"height": size, "width": size},
           "do_center_crop": crop is not None, "do_normalize": True, "do_rescale": True,
           "image_mean": list(mean or CLIP_MEAN), "image_std": list(std or CLIP_STD)}
    if crop is not None:
        cfg["crop_size"] = {"height": crop, "width": crop}
    with open(os.path.join(path, "preprocessor_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def make_clip_dir(path: str, seed: int = 0, proj: int = 16) -> str:
    """A tiny ``CLIPModel`` saved with ``save_pretrained`` (safetensors) + tokenizer + preprocessor."""
    from transformers import CLIPModel
    os.makedirs(path, exist_ok=True)
    torch.manual_seed(seed)
    model = seed_init(CLIPModel(tiny_clip_config(proj)), seed, std=0.2).eval()
    model.save_pretrained(path)
    make_clip_tokenizer(path)
    write_preprocessor_config(path, 32, 32)
    return path


# -- ImageReward --------------------------------------------------------------------------------

def make_bert_tokenizer_dir(path: str):
    """A BERT WordPiece tokenizer (bert-base-uncased style special tokens) with a tiny vocabulary."""
    from transformers import BertTokenizer
    os.makedirs(path, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + TINY_WORDS
    words = list(dict.fromkeys(words))
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(words) + "\n")
    try:
        tok = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    except TypeError:  # transformers 4.x: the tokenizer reads a vocab.txt file
        tok = BertTokenizer(vocab_file=os.path.join(path, "vocab.txt"))
    tok.save_pretrained(path)
    with open(os.path.join(path, "vocab.txt"), "w") as f:  # keep a plain vocab.txt as bert-base-uncased has
        f.write("\n".join(words) + "\n")
    return len(words)


TINY_VISION = dict(image_size=32, patch_size=8, width=128, depth=2, heads=2)  # heads = width // 64, as ViT-L (1024 → 16)


def tiny_med_config(vocab_size: int) -> dict:
    """med_config.json in the official format (BERT config + encoder_width + add_cross_attention),
    with tiny dimensions; ``vocab_size`` counts the two added tokens [DEC] and [ENC]."""
    return {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
            "layer_norm_eps": 1e-12, "max_position_embeddings": 40, "model_type": "bert",
            "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 0, "type_vocab_size": 2,
            "vocab_size": vocab_size, "encoder_width": 128, "add_cross_attention": True}


def official_image_reward_state_dict(med: dict, vision: dict = TINY_VISION, seed: int = 0,
                                     mlp_in: Optional[int] = None, extras: bool = True) -> Dict[str, torch.Tensor]:
    """A random state dict with exactly the keys and shapes of the official ``ImageReward.pt``
    (written out by name from BLIP's vit.py / med.py and ImageReward's MLP, not from our key map).
    ``extras``: include the keys the official model carries but never uses (``blip.vision_proj``,
    ``blip.text_proj``, ``...embeddings.position_ids``)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.2):
        return scale * torch.randn(*shape, generator=g)

    def ln(n):
        return 1.0 + 0.1 * torch.randn(n, generator=g)

    sd: Dict[str, torch.Tensor] = {}
    W, P, S = vision["width"], vision["patch_size"], vision["image_size"]
    n_tok = (S // P) ** 2 + 1
    v = "blip.visual_encoder."
    sd[v + "cls_token"] = rnd(1, 1, W)
    sd[v + "pos_embed"] = rnd(1, n_tok, W)
    sd[v + "patch_embed.proj.weight"] = rnd(W, 3, P, P, scale=0.05)
    sd[v + "patch_embed.proj.bias"] = rnd(W)
    for i in range(vision["depth"]):
        b = f"{v}blocks.{i}."
        sd[b + "norm1.weight"], sd[b + "norm1.bias"] = ln(W), rnd(W)
        sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"] = rnd(3 * W, W), rnd(3 * W)
        sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"] = rnd(W, W), rnd(W)
        sd[b + "norm2.weight"], sd[b + "norm2.bias"] = ln(W), rnd(W)
        sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"] = rnd(4 * W, W), rnd(4 * W)
        sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"] = rnd(W, 4 * W), rnd(W)
    sd[v + "norm.weight"], sd[v + "norm.bias"] = ln(W), rnd(W)

    H, I, V, E = med["hidden_size"], med["intermediate_size"], med["vocab_size"], W
    t = "blip.text_encoder."
    sd[t + "embeddings.word_embeddings.weight"] = rnd(V, H)
    sd[t + "embeddings.position_embeddings.weight"] = rnd(med["max_position_embeddings"], H)
    sd[t + "embeddings.LayerNorm.weight"], sd[t + "embeddings.LayerNorm.bias"] = ln(H), rnd(H)
    if extras:
        sd[t + "embeddings.position_ids"] = torch.arange(med["max_position_embeddings"]).expand(1, -1).clone()
    for i in range(med["num_hidden_layers"]):
        L = f"{t}encoder.layer.{i}."
        for att, kv in (("attention", H), ("crossattention", E)):
            sd[L + att + ".self.query.weight"], sd[L + att + ".self.query.bias"] = rnd(H, H), rnd(H)
            sd[L + att + ".self.key.weight"], sd[L + att + ".self.key.bias"] = rnd(H, kv), rnd(H)
            sd[L + att + ".self.value.weight"], sd[L + att + ".self.value.bias"] = rnd(H, kv), rnd(H)
            sd[L + att + ".output.dense.weight"], sd[L + att + ".output.dense.bias"] = rnd(H, H), rnd(H)
            sd[L + att + ".output.LayerNorm.weight"], sd[L + att + ".output.LayerNorm.bias"] = ln(H), rnd(H)
        sd[L + "intermediate.dense.weight"], sd[L + "intermediate.dense.bias"] = rnd(I, H), rnd(I)
        sd[L + "output.dense.weight"], sd[L + "output.dense.bias"] = rnd(H, I), rnd(H)
        sd[L + "output.LayerNorm.weight"], sd[L + "output.LayerNorm.bias"] = ln(H), rnd(H)
    if extras:
        sd["blip.vision_proj.weight"], sd["blip.vision_proj.bias"] = rnd(16, W), rnd(16)
        sd["blip.text_proj.weight"], sd["blip.text_proj.bias"] = rnd(16, H), rnd(16)
    dims = [mlp_in or H, 1024, 128, 64, 16, 1]
    for idx, (a, b_) in zip((0, 2, 4, 6, 7), zip(dims[:-1], dims[1:])):
        sd[f"mlp.layers.{idx}.weight"] = rnd(b_, a, scale=1.0 / (a ** 0.5))
        sd[f"mlp.layers.{idx}.bias"] = rnd(b_, scale=0.1)
    return sd


def make_image_reward_files(path: str, seed: int = 0, with_tokenizer: bool = True,
                            filename: str = "ImageReward.pt") -> str:
    """A folder as the official release ships it (``ImageReward.pt`` + ``med_config.json``), plus a
    tiny BERT tokenizer in ``bert-base-uncased/`` (the real one comes from the HF cache)."""
    os.makedirs(path, exist_ok=True)
    tok_dir = os.path.join(path, "bert-base-uncased")
    n_vocab = make_bert_tokenizer_dir(tok_dir)
    med = tiny_med_config(n_vocab + 2)
    with open(os.path.join(path, "med_config.json"), "w") as f:
        json.dump(med, f, indent=2)
    torch.save(official_image_reward_state_dict(med, seed=seed), os.path.join(path, filename))
    if not with_tokenizer:
        shutil.rmtree(tok_dir)
    return path


# -- aesthetic heads ---------------------------------------------------------------------------

def aesthetic_head_state_dict(dim: int, kind: str = "mlp", seed: int = 0) -> Dict[str, torch.Tensor]:
    """``kind='mlp'``: the sac+logos+ava1 five-Linear layout (``layers.0/2/4/6/7``);
    ``kind='linear'``: a single Linear(dim→1) (``weight``, ``bias``)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "linear":
        return {"weight": torch.randn(1, dim, generator=g), "bias": torch.randn(1, generator=g)}
    dims = [dim, 1024, 128, 64, 16, 1]
    sd = {}
    for idx, (a, b) in zip((0, 2, 4, 6, 7), zip(dims[:-1], dims[1:])):
        sd[f"layers.{idx}.weight"] = torch.randn(b, a, generator=g) / a ** 0.5
        sd[f"layers.{idx}.bias"] = 0.1 * torch.randn(b, generator=g)
    return sd


def make_aesthetic_head(path: str, dim: int = 16, kind: str = "mlp", seed: int = 0) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(aesthetic_head_state_dict(dim, kind, seed), path)
    return path


# -- classifier / self-supervised -------------------------------------------------------------

def make_vit_classifier_dir(path: str, seed: int = 0,
                            labels=("tabby, tabby cat", "goldfish, Carassius auratus", "red car")) -> str:
    from transformers import ViTConfig, ViTForImageClassification
    os.makedirs(path, exist_ok=True)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                    image_size=32, patch_size=8, num_labels=len(labels),
                    id2label={i: l for i, l in enumerate(labels)}, label2id={l: i for i, l in enumerate(labels)})
    torch.manual_seed(seed)
    seed_init(ViTForImageClassification(cfg), seed, std=0.2).eval().save_pretrained(path)
    write_preprocessor_config(path, 32, None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), shortest_edge=False,
                              processor="ViTImageProcessor")
    return path


def make_dinov2_dir(path: str, seed: int = 0) -> str:
    from transformers import Dinov2Config, Dinov2Model
    os.makedirs(path, exist_ok=True)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                       image_size=32, patch_size=8)
    torch.manual_seed(seed)
    seed_init(Dinov2Model(cfg), seed, std=0.2).eval().save_pretrained(path)
    from verifiers.preprocess import IMAGENET_MEAN, IMAGENET_STD
    write_preprocessor_config(path, 36, 32, mean=IMAGENET_MEAN, std=IMAGENET_STD, processor="BitImageProcessor")
    return path


# -- Hugging Face cache layout -----------------------------------------------------------------

def make_hf_cache(hf_home: str, repo_id: str, src: str, revision: str = "0123456789abcdef0123456789abcdef01234567") -> str:
    """Copy folder (or file) ``src`` into ``$HF_HOME/hub/models--org--name/snapshots/<rev>/`` with
    ``refs/main`` pointing at ``rev``, as ``hf download`` leaves it. Returns the snapshot."""
    repo_dir = os.path.join(hf_home, "hub", "models--" + repo_id.replace("/", "--"))
    snap = os.path.join(repo_dir, "snapshots", revision)
    os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
    os.makedirs(os.path.join(repo_dir, "blobs"), exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, snap, dirs_exist_ok=True)
    else:
        os.makedirs(snap, exist_ok=True)
        shutil.copy(src, os.path.join(snap, os.path.basename(src)))
    with open(os.path.join(repo_dir, "refs", "main"), "w") as f:
        f.write(revision)
    return snap
