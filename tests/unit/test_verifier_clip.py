"""CLIPScore on a tiny random-weight CLIPModel saved with save_pretrained, loaded like the real one:
from a local folder, from a models/verifiers folder, and from the HF cache (offline, real hub id)."""
import os

import pytest
import torch
import torch.nn.functional as F

from tests.tiny_models import make_clip_dir, make_hf_cache
from verifiers import CLIPScore
from verifiers.loading import WeightsNotFoundError
from verifiers.preprocess import CLIP_MEAN, CLIP_STD, Preprocess


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return make_clip_dir(str(tmp_path_factory.mktemp("clip") / "tiny-clip"), seed=0)


def images(n=6, seed=0, h=40, w=52):
    """Noise over six distinct base colours (so the tiny model's cosines differ in sign)."""
    x = torch.rand(6, h, w, 3, generator=torch.Generator().manual_seed(seed))
    cols = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0], [1, 1, 0]]).float()
    return (0.5 * x + 0.5 * cols[:, None, None, :]).clamp(0, 1)[:n]


def test_score_matches_definition(clip_dir):
    v = CLIPScore.from_pretrained(clip_dir)
    imgs = images()
    s = v.score(imgs, "a red car")
    # by hand: preprocess, embed, cosine, 100·max(cos, 0)
    px = v.preprocess(imgs)
    img = v.model.get_image_features(pixel_values=px)
    img = img.pooler_output if not isinstance(img, torch.Tensor) else img
    tok = v.tokenizer(["a red car"], padding="max_length", max_length=v._max_len(), truncation=True,
                      return_tensors="pt")
    txt = v.model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
    txt = txt.pooler_output if not isinstance(txt, torch.Tensor) else txt
    cos = F.cosine_similarity(img, txt.expand_as(img), dim=-1)
    torch.testing.assert_close(s, 100 * cos.clamp(min=0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(v.last_cosine, cos, rtol=1e-4, atol=1e-4)
    # the seed gives a mix of positive and negative cosines: both branches of the clamp run
    assert (cos > 0).any() and (cos < 0).any(), cos
    assert (s[cos < 0] == 0).all() and (s[cos > 0] > 0).all()


def test_unclamped_prompt_dependence_and_text_cache(clip_dir):
    v = CLIPScore.from_pretrained(clip_dir, clamp=False)
    imgs = images()
    a = v.score(imgs, "a photo of a cat")
    b = v.score(imgs, "a red car")
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, 100 * v.score(imgs, "a photo of a cat") / 100)
    assert set(v._text_cache) == {"a photo of a cat", "a red car"}
    per = v.score(imgs[:2], ["a photo of a cat", "a red car"])
    torch.testing.assert_close(per, torch.stack([a[0], b[1]]), rtol=1e-4, atol=1e-4)
    # batch-size independence: one at a time gives the same scores
    one = torch.cat([v.score(imgs[i:i + 1], "a photo of a cat") for i in range(6)])
    torch.testing.assert_close(one, a, rtol=1e-4, atol=1e-4)


def test_load_from_models_folder_and_hf_cache(clip_dir, tmp_path, monkeypatch):
    models = tmp_path / "models" / "verifiers"
    models.mkdir(parents=True)
    import shutil
    shutil.copytree(clip_dir, models / "clip-vit-large-patch14")
    ref = CLIPScore.from_pretrained(clip_dir).score(images(), "a cat")
    v = CLIPScore.from_pretrained("clip-vit-large-patch14", [str(models)])
    torch.testing.assert_close(v.score(images(), "a cat"), ref)

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    make_hf_cache(str(home), "openai/clip-vit-large-patch14", clip_dir)
    v = CLIPScore.from_pretrained("openai/clip-vit-large-patch14", [str(tmp_path / "nothing")])
    torch.testing.assert_close(v.score(images(), "a cat"), ref)


def test_absent_weights_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(WeightsNotFoundError) as ei:
        CLIPScore.from_pretrained("openai/clip-vit-large-patch14", [str(tmp_path / "models" / "verifiers")])
    m = str(ei.value)
    assert "models--openai--clip-vit-large-patch14" in m and str(tmp_path / "models" / "verifiers") in m
    assert "hf download openai/clip-vit-large-patch14" in m


def test_flops_measured_once_and_cached(clip_dir):
    v = CLIPScore.from_pretrained(clip_dir)
    f = v.flops_per_image(64, 64)
    assert f > 0
    assert v.flops_per_image(64, 64) == f and (64, 64) in v._flops_cache
    assert v.flops_per_image(512, 512) == f  # CLIP always sees its 32² crop
    assert v._text_cache == {}  # measuring skips the text cache


def test_torch_preprocess_resize_crop_normalise():
    pre = Preprocess(crop=(4, 4), resize=4)
    img = torch.zeros(1, 8, 12, 3)
    img[:, :, 4:8] = 1.0  # white band in the middle columns
    out = pre(img)
    assert out.shape == (1, 3, 4, 4)  # shortest side 8→4, long side 12→6, centre crop 4 of 6
    white = (1 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    black = (0 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    # antialiased bicubic blurs the band's edges a little
    torch.testing.assert_close(out[0, :, :, 1:3].mean(dim=(1, 2)), white, atol=0.3, rtol=0)
    torch.testing.assert_close(out[0, :, :, 0].mean(dim=1), black, atol=0.3, rtol=0)


def test_preprocess_from_real_preprocessor_configs(tmp_path):
    import json
    from verifiers.preprocess import preprocess_from_config
    # openai/clip-vit-large-patch14 (legacy int sizes: shortest edge 224, centre crop 224)
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": list(CLIP_MEAN),
        "image_std": list(CLIP_STD), "resample": 3, "size": 224}))
    p = preprocess_from_config(str(tmp_path / "clip"))
    assert (p.resize, p.resize_hw, p.crop, p.mode) == (224, None, (224, 224), "bicubic")
    assert p(torch.rand(1, 300, 500, 3)).shape == (1, 3, 224, 224)
    # google/vit-base-patch16-224 (square resize, no crop, mean/std 0.5)
    (tmp_path / "vit").mkdir()
    (tmp_path / "vit" / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_resize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
        "resample": 2, "size": 224}))
    p = preprocess_from_config(str(tmp_path / "vit"))
    assert (p.resize_hw, p.crop, p.mode, tuple(p.mean)) == ((224, 224), (224, 224), "bilinear", (0.5,) * 3)
    # facebook/dinov2-base (shortest edge 256, crop 224)
    (tmp_path / "dino").mkdir()
    (tmp_path / "dino" / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_resize": True,
        "size": {"shortest_edge": 256}, "resample": 3, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225]}))
    p = preprocess_from_config(str(tmp_path / "dino"))
    assert (p.resize, p.crop) == (256, (224, 224))
