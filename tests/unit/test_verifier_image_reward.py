"""ImageReward: official key layout → transformers BLIP modules, checked key by key and against an
independent plain-torch forward written from BLIP's vit.py / med.py on the *official* keys."""
import json
import os
import shutil

import pytest
import torch
import torch.nn.functional as F

from tests.tiny_models import TINY_VISION, make_hf_cache, make_image_reward_files, official_image_reward_state_dict
from verifiers import ImageReward, ImageRewardKeyError
from verifiers.image_reward import (IGNORED_OFFICIAL, SCORE_MEAN, SCORE_STD, ImageRewardModel, build_model,
                                    official_to_ours, ours_to_official, vision_config_from_state_dict)
from verifiers.loading import WeightsNotFoundError


@pytest.fixture(scope="module")
def ir_dir(tmp_path_factory):
    return make_image_reward_files(str(tmp_path_factory.mktemp("ir") / "ImageReward"), seed=0)


def med_of(ir_dir):
    with open(os.path.join(ir_dir, "med_config.json")) as f:
        return json.load(f)


def images(n=3, seed=1):
    return torch.rand(n, 48, 40, 3, generator=torch.Generator().manual_seed(seed))


# -- key map -------------------------------------------------------------------------------------

def test_every_official_key_maps_and_round_trips(ir_dir):
    med = med_of(ir_dir)
    sd = official_image_reward_state_dict(med)
    with torch.device("meta"):
        model = ImageRewardModel(med, vision_config_from_state_dict(sd))
    ours = set(model.state_dict())
    used = [k for k in sd if not IGNORED_OFFICIAL.match(k)]
    mapped = {official_to_ours(k) for k in used}
    assert None not in mapped
    assert mapped == ours, (sorted(ours - mapped)[:5], sorted(mapped - ours)[:5])
    for k in used:
        assert ours_to_official(official_to_ours(k)) == k
    assert sorted(k for k in sd if IGNORED_OFFICIAL.match(k)) == [
        "blip.text_encoder.embeddings.position_ids", "blip.text_proj.bias", "blip.text_proj.weight",
        "blip.vision_proj.bias", "blip.vision_proj.weight"]


def test_real_size_key_count_from_published_config():
    """At the published sizes (ViT-L/16 + BERT-base with cross-attention) the map covers all keys."""
    from verifiers.image_reward import DEFAULT_MED_CONFIG, DEFAULT_VISION
    with torch.device("meta"):
        model = ImageRewardModel(DEFAULT_MED_CONFIG, DEFAULT_VISION)
        sd = official_image_reward_state_dict(DEFAULT_MED_CONFIG, dict(DEFAULT_VISION), extras=False)
    back = {ours_to_official(k) for k in model.state_dict()}
    assert back == set(sd)
    assert vision_config_from_state_dict(sd) == DEFAULT_VISION
    n = sum(p.numel() for p in model.parameters())
    assert 440e6 < n < 480e6, n  # ImageReward: ~ 304M (ViT-L) + ~ 137M (BERT + cross-attn) + head


def test_missing_key_is_a_clear_error(ir_dir):
    med = med_of(ir_dir)
    sd = official_image_reward_state_dict(med)
    del sd["blip.text_encoder.encoder.layer.1.crossattention.self.key.weight"]
    del sd["mlp.layers.4.bias"]
    with pytest.raises(ImageRewardKeyError) as ei:
        build_model(sd, med)
    msg = str(ei.value)
    assert "missing keys (2)" in msg
    assert "blip.text_encoder.encoder.layer.1.crossattention.self.key.weight" in msg and "mlp.layers.4.bias" in msg
    assert ei.value.missing == sorted(["blip.text_encoder.encoder.layer.1.crossattention.self.key.weight",
                                       "mlp.layers.4.bias"])


def test_unexpected_key_is_a_clear_error(ir_dir):
    med = med_of(ir_dir)
    sd = official_image_reward_state_dict(med)
    sd["blip.text_encoder.pooler.dense.weight"] = torch.zeros(2, 2)
    sd["blip.itm_head.weight"] = torch.zeros(2, 2)
    with pytest.raises(ImageRewardKeyError) as ei:
        build_model(sd, med)
    assert "unexpected keys (2)" in str(ei.value) and "blip.itm_head.weight" in str(ei.value)


def test_missing_key_from_file_names_it(ir_dir, tmp_path):
    d = tmp_path / "broken"
    shutil.copytree(ir_dir, d)
    sd = torch.load(d / "ImageReward.pt", weights_only=True)
    del sd["blip.visual_encoder.blocks.1.attn.qkv.bias"]
    torch.save(sd, d / "ImageReward.pt")
    with pytest.raises(ImageRewardKeyError, match=r"blip\.visual_encoder\.blocks\.1\.attn\.qkv\.bias"):
        ImageReward.from_pretrained(str(d))


# -- numerics against a plain-torch reference on the official keys --------------------------------

def reference_reward(sd, med, vis, px, ids, mask):
    """BLIP ViT (vit.py) + BERT with cross-attention (med.py) + ImageReward's MLP, written directly
    from the official state-dict keys with plain torch ops."""
    v = lambda k: sd["blip.visual_encoder." + k]  # noqa: E731
    W, P, Hh = vis["width"], vis["patch_size"], vis["heads"]
    B = px.shape[0]
    x = F.conv2d(px, v("patch_embed.proj.weight"), v("patch_embed.proj.bias"), stride=P).flatten(2).transpose(1, 2)
    x = torch.cat([v("cls_token").expand(B, -1, -1), x], 1) + v("pos_embed")
    N = x.shape[1]

    def mha(q, k, vv, heads, bias=None):
        b, n, d = q.shape
        m = k.shape[1]
        q = q.view(b, n, heads, d // heads).transpose(1, 2)
        k = k.view(b, m, heads, d // heads).transpose(1, 2)
        vv = vv.view(b, m, heads, d // heads).transpose(1, 2)
        a = q @ k.transpose(-1, -2) / (d // heads) ** 0.5
        if bias is not None:
            a = a + bias
        return (a.softmax(-1) @ vv).transpose(1, 2).reshape(b, n, d)

    for i in range(vis["depth"]):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (W,), v(b + "norm1.weight"), v(b + "norm1.bias"), 1e-6)
        q, k, vv = F.linear(h, v(b + "attn.qkv.weight"), v(b + "attn.qkv.bias")).chunk(3, -1)
        x = x + F.linear(mha(q, k, vv, Hh), v(b + "attn.proj.weight"), v(b + "attn.proj.bias"))
        h = F.layer_norm(x, (W,), v(b + "norm2.weight"), v(b + "norm2.bias"), 1e-6)
        x = x + F.linear(F.gelu(F.linear(h, v(b + "mlp.fc1.weight"), v(b + "mlp.fc1.bias"))),
                         v(b + "mlp.fc2.weight"), v(b + "mlp.fc2.bias"))
    img = F.layer_norm(x, (W,), v("norm.weight"), v("norm.bias"), 1e-6)

    t = lambda k: sd["blip.text_encoder." + k]  # noqa: E731
    H, heads, eps = med["hidden_size"], med["num_attention_heads"], med["layer_norm_eps"]
    L = ids.shape[1]
    h = F.embedding(ids, t("embeddings.word_embeddings.weight")) + t("embeddings.position_embeddings.weight")[:L]
    h = F.layer_norm(h, (H,), t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"), eps)
    ext = (1.0 - mask[:, None, None, :].float()) * -10000.0
    lin = lambda z, name: F.linear(z, t(name + ".weight"), t(name + ".bias"))  # noqa: E731
    for i in range(med["num_hidden_layers"]):
        Lp = f"encoder.layer.{i}."
        a = mha(lin(h, Lp + "attention.self.query"), lin(h, Lp + "attention.self.key"),
                lin(h, Lp + "attention.self.value"), heads, ext)
        h = F.layer_norm(lin(a, Lp + "attention.output.dense") + h, (H,), t(Lp + "attention.output.LayerNorm.weight"),
                         t(Lp + "attention.output.LayerNorm.bias"), eps)
        c = mha(lin(h, Lp + "crossattention.self.query"), lin(img, Lp + "crossattention.self.key"),
                lin(img, Lp + "crossattention.self.value"), heads)
        h = F.layer_norm(lin(c, Lp + "crossattention.output.dense") + h, (H,),
                         t(Lp + "crossattention.output.LayerNorm.weight"), t(Lp + "crossattention.output.LayerNorm.bias"), eps)
        f = lin(F.gelu(lin(h, Lp + "intermediate.dense")), Lp + "output.dense")
        h = F.layer_norm(f + h, (H,), t(Lp + "output.LayerNorm.weight"), t(Lp + "output.LayerNorm.bias"), eps)
    z = h[:, 0]
    for idx in (0, 2, 4, 6, 7):
        z = F.linear(z, sd[f"mlp.layers.{idx}.weight"], sd[f"mlp.layers.{idx}.bias"])
    return ((z - SCORE_MEAN) / SCORE_STD).squeeze(-1)


def test_scores_match_reference_forward(ir_dir):
    v = ImageReward.from_pretrained(ir_dir)
    sd = torch.load(os.path.join(ir_dir, "ImageReward.pt"), weights_only=True)
    imgs = images()
    prompts = ["a photo of a cat", "a red car on the tree", "dog"]
    got = v.score(imgs, prompts)
    ids, mask = v.tokenize(prompts)
    assert ids.shape == (3, 35) and (ids[:, 0] == v.tokenizer.cls_token_id).all()
    ref = reference_reward(sd, med_of(ir_dir), TINY_VISION, v.preprocess(imgs), ids, mask)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
    assert got.std() > 1e-3  # non-trivial scores
    # the prompt matters; scoring one at a time gives the same numbers
    assert not torch.allclose(v.score(imgs, "a photo of a cat"), v.score(imgs, "blue sky"))
    one = torch.cat([v.score(imgs[i:i + 1], prompts[i]) for i in range(3)])
    torch.testing.assert_close(one, got, rtol=1e-4, atol=1e-4)


def test_tokenizer_matches_blip_init_tokenizer(ir_dir):
    v = ImageReward.from_pretrained(ir_dir)
    tok = v.tokenizer
    n = len(tok)
    assert tok.convert_tokens_to_ids("[DEC]") == n - 2 and tok.enc_token_id == n - 1
    assert tok.bos_token == "[DEC]"
    ids, _ = v.tokenize(["a cat " * 40])  # truncated to 35, ends with [SEP]
    assert ids.shape == (1, 35) and ids[0, -1] == tok.sep_token_id
    v2 = ImageReward(v.model, tok, enc_token_first=True)
    ids2, _ = v2.tokenize(["a cat"])
    assert ids2[0, 0] == tok.enc_token_id
    assert not torch.allclose(v2.score(images(), "a cat"), v.score(images(), "a cat"))


def test_load_from_models_folder_and_hf_cache(ir_dir, tmp_path, monkeypatch):
    ref = ImageReward.from_pretrained(ir_dir).score(images(), "a cat")
    # models/verifiers/ImageReward.pt (+ med_config.json) and models/verifiers/bert-base-uncased/
    models = tmp_path / "models" / "verifiers"
    models.mkdir(parents=True)
    shutil.copy(os.path.join(ir_dir, "ImageReward.pt"), models / "ImageReward.pt")
    shutil.copy(os.path.join(ir_dir, "med_config.json"), models / "med_config.json")
    shutil.copytree(os.path.join(ir_dir, "bert-base-uncased"), models / "bert-base-uncased")
    v = ImageReward.from_pretrained("ImageReward.pt", [str(models)])
    torch.testing.assert_close(v.score(images(), "a cat"), ref)

    # HF cache: THUDM/ImageReward (ImageReward.pt + med_config.json), tokenizer google-bert/bert-base-uncased
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    files = tmp_path / "release"
    files.mkdir()
    shutil.copy(os.path.join(ir_dir, "ImageReward.pt"), files / "ImageReward.pt")
    shutil.copy(os.path.join(ir_dir, "med_config.json"), files / "med_config.json")
    make_hf_cache(str(home), "THUDM/ImageReward", str(files))
    make_hf_cache(str(home), "google-bert/bert-base-uncased", os.path.join(ir_dir, "bert-base-uncased"))
    v = ImageReward.from_pretrained("THUDM/ImageReward", [str(tmp_path / "empty")])
    torch.testing.assert_close(v.score(images(), "a cat"), ref)


def test_absent_checkpoint_and_tokenizer_errors(ir_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    models = tmp_path / "models" / "verifiers"
    with pytest.raises(WeightsNotFoundError) as ei:
        ImageReward.from_pretrained("THUDM/ImageReward", [str(models)])
    m = str(ei.value)
    assert str(models / "THUDM/ImageReward") in m and "models--THUDM--ImageReward" in m
    assert "hf download THUDM/ImageReward ImageReward.pt" in m
    # checkpoint present, tokenizer nowhere
    d = tmp_path / "ir_no_tok"
    d.mkdir()
    shutil.copy(os.path.join(ir_dir, "ImageReward.pt"), d / "ImageReward.pt")
    with pytest.raises(WeightsNotFoundError) as ei:
        ImageReward.from_pretrained(str(d / "ImageReward.pt"), [str(models)])
    m = str(ei.value)
    assert "bert-base-uncased" in m and str(d / "bert-base-uncased") in m and str(models / "bert-base-uncased") in m
    assert "models--google-bert--bert-base-uncased" in m


def test_flops_positive_and_cached(ir_dir):
    v = ImageReward.from_pretrained(ir_dir)
    f = v.flops_per_image(224, 224)
    assert f > 0 and v.flops_per_image(224, 224) == f
