"""CLIP written out in plain torch from a state dict, for checking loaders against an independent
forward. Two key layouts: transformers ``CLIPModel`` (``hf_*``) and OpenCLIP (``oc_*``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _block(x, ln1, qkv, out, ln2, fc1, fc2, heads, act, mask=None):
    """Pre-LN transformer block; ``qkv`` = (Wq, bq, Wk, bk, Wv, bv)."""
    B, N, W = x.shape
    h = F.layer_norm(x, (W,), *ln1, eps=1e-5)
    q, k, v = (F.linear(h, w, b).reshape(B, N, heads, W // heads).transpose(1, 2) for w, b in
               zip(qkv[0::2], qkv[1::2]))
    att = (q @ k.transpose(-1, -2)) / (W // heads) ** 0.5
    if mask is not None:
        att = att + mask
    h = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, N, W)
    x = x + F.linear(h, *out)
    h = F.layer_norm(x, (W,), *ln2, eps=1e-5)
    return x + F.linear(act(F.linear(h, *fc1)), *fc2)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def _causal(n):
    return torch.full((n, n), float("-inf")).triu(1)


def hf_features(sd, pixels, ids, heads, eos_id, act=quick_gelu):
    """(image embeddings, text embeddings) of a transformers CLIPModel state dict."""
    g = lambda k: sd[k].double()
    p = "vision_model."
    x = F.conv2d(pixels.double(), g(p + "embeddings.patch_embedding.weight"),
                 stride=sd[p + "embeddings.patch_embedding.weight"].shape[-1]).flatten(2).transpose(1, 2)
    x = torch.cat([g(p + "embeddings.class_embedding").expand(x.shape[0], 1, -1), x], 1)
    x = x + g(p + "embeddings.position_embedding.weight")
    x = F.layer_norm(x, x.shape[-1:], g(p + "pre_layrnorm.weight"), g(p + "pre_layrnorm.bias"), eps=1e-5)
    x = _hf_layers(sd, p, x, heads, act)
    x = F.layer_norm(x[:, 0], x.shape[-1:], g(p + "post_layernorm.weight"), g(p + "post_layernorm.bias"), eps=1e-5)
    img = x @ g("visual_projection.weight").T
    t = "text_model."
    y = g(t + "embeddings.token_embedding.weight")[ids] + g(t + "embeddings.position_embedding.weight")[: ids.shape[1]]
    y = _hf_layers(sd, t, y, heads, act, _causal(ids.shape[1]).double())
    y = F.layer_norm(y, y.shape[-1:], g(t + "final_layer_norm.weight"), g(t + "final_layer_norm.bias"), eps=1e-5)
    pos = (ids == eos_id).int().argmax(-1)
    txt = y[torch.arange(len(ids)), pos] @ g("text_projection.weight").T
    return img, txt


def _hf_layers(sd, p, x, heads, act, mask=None):
    i = 0
    while f"{p}encoder.layers.{i}.layer_norm1.weight" in sd:
        L = f"{p}encoder.layers.{i}."
        wb = lambda n: (sd[L + n + ".weight"].double(), sd[L + n + ".bias"].double())
        qkv = (*wb("self_attn.q_proj"), *wb("self_attn.k_proj"), *wb("self_attn.v_proj"))
        x = _block(x, wb("layer_norm1"), qkv, wb("self_attn.out_proj"), wb("layer_norm2"), wb("mlp.fc1"),
                   wb("mlp.fc2"), heads, act, mask)
        i += 1
    return x


def _oc_layers(sd, p, x, heads, act, mask=None):
    i = 0
    while f"{p}resblocks.{i}.ln_1.weight" in sd:
        L = f"{p}resblocks.{i}."
        wb = lambda n: (sd[L + n + ".weight"].double(), sd[L + n + ".bias"].double())
        w, b = sd[L + "attn.in_proj_weight"].double().chunk(3), sd[L + "attn.in_proj_bias"].double().chunk(3)
        qkv = (w[0], b[0], w[1], b[1], w[2], b[2])
        x = _block(x, wb("ln_1"), qkv, wb("attn.out_proj"), wb("ln_2"), wb("mlp.c_fc"), wb("mlp.c_proj"),
                   heads, act, mask)
        i += 1
    return x


def oc_features(sd, pixels, ids, vision_heads, text_heads, act=F.gelu):
    """(image embeddings, text embeddings) of an OpenCLIP state dict (pooling: class token,
    text at the end-of-text token, the highest id)."""
    g = lambda k: sd[k].double()
    w = sd["visual.conv1.weight"]
    x = F.conv2d(pixels.double(), g("visual.conv1.weight"), stride=w.shape[-1]).flatten(2).transpose(1, 2)
    x = torch.cat([g("visual.class_embedding").expand(x.shape[0], 1, -1), x], 1) + g("visual.positional_embedding")
    x = F.layer_norm(x, x.shape[-1:], g("visual.ln_pre.weight"), g("visual.ln_pre.bias"), eps=1e-5)
    x = _oc_layers(sd, "visual.transformer.", x, vision_heads, act)
    x = F.layer_norm(x[:, 0], x.shape[-1:], g("visual.ln_post.weight"), g("visual.ln_post.bias"), eps=1e-5)
    img = x @ g("visual.proj")
    n = ids.shape[1]
    y = g("token_embedding.weight")[ids] + g("positional_embedding")[:n]
    y = _oc_layers(sd, "transformer.", y, text_heads, act, _causal(n).double())
    y = F.layer_norm(y, y.shape[-1:], g("ln_final.weight"), g("ln_final.bias"), eps=1e-5)
    txt = y[torch.arange(len(ids)), ids.argmax(-1)] @ g("text_projection")
    return img, txt
