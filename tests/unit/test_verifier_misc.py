"""Aesthetic heads, the rank ensemble, classifier logits, CLIP zero-shot, the self-supervised
verifier, and the cost helpers, on tiny random-weight models saved and loaded like real ones."""
import os

import pytest
import torch
import torch.nn.functional as F

from tests.tiny_models import (aesthetic_head_state_dict, make_aesthetic_head, make_clip_dir, make_dinov2_dir,
                               make_hf_cache, make_vit_classifier_dir)
from verifiers import (AestheticScore, Brightness, ClassifierLogit, CLIPScore, CLIPZeroShot, ColorTarget, Ensemble,
                       SelfSupervised, Sharpness, Verifier, WithPrompt, average_ranks, nfe_equivalents,
                       verifier_nfe_equivalents)
from verifiers.aesthetic import build_head
from verifiers.loading import WeightsNotFoundError


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return make_clip_dir(str(tmp_path_factory.mktemp("clip") / "clip"), seed=0)


def images(n=4, seed=0, h=40, w=36):
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def offline_hf(tmp_path, monkeypatch):
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home


# -- aesthetic -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_aesthetic_both_head_formats(clip_dir, tmp_path, kind):
    models = tmp_path / "models" / "verifiers"
    head = make_aesthetic_head(str(models / f"head_{kind}.pth"), dim=16, kind=kind)
    v = AestheticScore.from_pretrained(f"head_{kind}.pth", clip_dir, [str(models)])
    imgs = images()
    s = v.score(imgs)
    # by hand: normalised CLIP image embedding through the head's Linear layers
    clip = CLIPScore.from_pretrained(clip_dir)
    emb = F.normalize(clip.image_embeddings(imgs), dim=-1)
    sd = torch.load(head, weights_only=True)
    if kind == "linear":
        ref = emb @ sd["weight"].T + sd["bias"]
    else:
        ref = emb
        for i in (0, 2, 4, 6, 7):
            ref = F.linear(ref, sd[f"layers.{i}.weight"], sd[f"layers.{i}.bias"])
    torch.testing.assert_close(s, ref.squeeze(-1), rtol=1e-4, atol=1e-4)
    assert s.std() > 0


def test_aesthetic_real_sizes_and_bad_heads():
    h = build_head(aesthetic_head_state_dict(768, "mlp"))
    assert [m.weight.shape for m in h.layers if isinstance(m, torch.nn.Linear)] == [
        (1024, 768), (128, 1024), (64, 128), (16, 64), (1, 16)]
    assert build_head(aesthetic_head_state_dict(768, "linear")).weight.shape == (1, 768)
    with pytest.raises(KeyError, match="unknown format"):
        build_head({"fc.weight": torch.zeros(1, 768)})


def test_aesthetic_dim_mismatch_and_missing_head(clip_dir, tmp_path, offline_hf):
    make_aesthetic_head(str(tmp_path / "h768.pth"), dim=768)
    with pytest.raises(ValueError, match="768-d"):
        AestheticScore.from_pretrained(str(tmp_path / "h768.pth"), clip_dir)
    with pytest.raises(WeightsNotFoundError) as ei:
        AestheticScore.from_pretrained(clip=clip_dir, search_dirs=[str(tmp_path / "models")])
    m = str(ei.value)
    assert "sac+logos+ava1-l14-linearMSE.pth" in m and str(tmp_path / "models") in m
    assert "improved-aesthetic-predictor" in m


def test_aesthetic_from_hf_cache(clip_dir, tmp_path, offline_hf):
    src = tmp_path / "src"
    src.mkdir()
    make_aesthetic_head(str(src / "sac+logos+ava1-l14-linearMSE.pth"), dim=16)
    make_hf_cache(str(offline_hf), "camenduru/improved-aesthetic-predictor", str(src))
    make_hf_cache(str(offline_hf), "openai/clip-vit-large-patch14", clip_dir)
    v = AestheticScore.from_pretrained()  # both defaults, from the cache
    ref = AestheticScore.from_pretrained(str(src / "sac+logos+ava1-l14-linearMSE.pth"), clip_dir)
    torch.testing.assert_close(v.score(images()), ref.score(images()))


# -- ensemble ------------------------------------------------------------------------------------

class Fixed(Verifier):
    def __init__(self, name, values):
        self.name, self.values = name, torch.tensor(values, dtype=torch.float32)

    def _score(self, images, prompts, mid_images):
        return self.values[: images.shape[0]]


def test_average_ranks_ties_and_nan():
    assert average_ranks(torch.tensor([3.0, 1.0, 3.0])).tolist() == [2.5, 1.0, 2.5]
    assert average_ranks(torch.tensor([0.2, float("nan"), 0.1, 0.9])).tolist() == [3.0, 1.0, 2.0, 4.0]
    assert average_ranks(torch.tensor([5.0, 5.0, 5.0, 5.0])).tolist() == [2.5] * 4


def test_ensemble_hand_computed():
    # member a: [0.9, 0.1, 0.5, 0.5] → ranks [4, 1, 2.5, 2.5]
    # member b: [10, 30, 20, 40]     → ranks [1, 3, 2, 4]
    # member c: [-1, -2, -3, -4]     → ranks [4, 3, 2, 1]
    a = Fixed("a", [0.9, 0.1, 0.5, 0.5])
    b = Fixed("b", [10, 30, 20, 40])
    c = Fixed("c", [-1, -2, -3, -4])
    e = Ensemble([a, b, c])
    s = e.score(images(4))
    torch.testing.assert_close(s, torch.tensor([9 / 3, 7 / 3, 6.5 / 3, 7.5 / 3]))
    assert int(torch.argmax(s)) == 0
    # weights 2:1:1 → (2·ra + rb + rc) / 4
    ew = Ensemble([a, b, c], weights=[2, 1, 1])
    torch.testing.assert_close(ew.score(images(4)), torch.tensor([13 / 4, 8 / 4, 9 / 4, 10 / 4]))
    d = ew.score_details()
    assert d["a"]["ranks"] == [4.0, 1.0, 2.5, 2.5] and d["b"]["scores"] == [10.0, 30.0, 20.0, 40.0]
    assert set(ew.last_member_scores) == {"a", "b", "c"}
    assert ew.batch_relative


def test_ensemble_history_reranks_across_calls():
    a = Fixed("a", [0.9, 0.1, 0.5, 0.5])
    e = Ensemble([a, Fixed("a", [10, 30, 20, 40])])
    assert e.keys == ["a", "a#1"]
    e.reset_history()
    for i in range(4):  # one image per call: ranks are all 1 ...
        assert e.score(images(1)).tolist() == [1.0]
    # ... but the history holds the raw scores — (here the same first row each call)
    torch.testing.assert_close(e.history_member_scores()["a"], torch.full((4,), 0.9))
    e.reset_history()
    e.history.append({"a": torch.tensor([0.9, 0.1]), "a#1": torch.tensor([10.0, 30.0])})
    e.history.append({"a": torch.tensor([0.5, 0.5]), "a#1": torch.tensor([20.0, 40.0])})
    torch.testing.assert_close(e.history_scores(), torch.tensor([2.5, 2.0, 2.25, 3.25]))


def test_ensemble_members_keep_their_prompts(clip_dir):
    clip = CLIPScore.from_pretrained(clip_dir, clamp=False)
    e = Ensemble([WithPrompt(clip, "a red car"), WithPrompt(clip, "a photo of a cat"), Brightness(0.5)])
    e.score(images(4), "ignored")
    torch.testing.assert_close(e.last_member_scores["clipscore(clip)"], clip.score(images(4), "a red car"))
    torch.testing.assert_close(e.last_member_scores["clipscore(clip)#1"], clip.score(images(4), "a photo of a cat"))
    assert len(e.modules()) == 1  # shared module counted once
    assert e.flops_per_image(64, 64) == 2 * clip.flops_per_image(64, 64)


def test_ensemble_bad_weights():
    with pytest.raises(ValueError, match="weights"):
        Ensemble([Sharpness(), Brightness()], weights=[0, 0])
    with pytest.raises(ValueError, match="2 verifiers"):
        Ensemble([Sharpness(), Brightness()], weights=[1])


# -- classifier ----------------------------------------------------------------------------------

def test_classifier_logit_by_label_and_index(tmp_path, offline_hf):
    d = make_vit_classifier_dir(str(tmp_path / "vit"))
    v = ClassifierLogit.from_pretrained(d, "red car")
    assert v.target == 2 and v.name == "classifier(red car)"
    imgs = images(3)
    s = v.score(imgs)
    logits = v.model(pixel_values=v.preprocess(imgs)).logits
    torch.testing.assert_close(s, logits[:, 2], rtol=1e-4, atol=1e-4)
    assert v.preprocess.input_size == (32, 32) and v.preprocess.mean == (0.5, 0.5, 0.5)
    assert ClassifierLogit.from_pretrained(d, "0").target == 0
    assert ClassifierLogit.from_pretrained(d, "Tabby Cat").target == 0  # one of the ImageNet-style synonyms
    assert ClassifierLogit.from_pretrained(d, "goldfish, Carassius auratus").target == 1
    with pytest.raises(ValueError, match="close: \\['tabby, tabby cat'\\]"):
        ClassifierLogit.from_pretrained(d, "tabb")
    lp = ClassifierLogit.from_pretrained(d, 1, mode="logprob").score(imgs)
    torch.testing.assert_close(lp, logits.log_softmax(-1)[:, 1], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="not a label"):
        ClassifierLogit.from_pretrained(d, "zebra")
    with pytest.raises(ValueError, match="out of range"):
        ClassifierLogit.from_pretrained(d, 7)
    make_hf_cache(str(offline_hf), "google/vit-base-patch16-224", d)
    assert ClassifierLogit.from_pretrained("google/vit-base-patch16-224", 2).score(imgs).allclose(s)


def test_clip_zero_shot(clip_dir):
    v = CLIPZeroShot.from_pretrained(["cat", "dog", "red car"], "dog", clip_dir)
    s = v.score(images(3))
    assert (s <= 0).all() and v.name == "clip_zeroshot(dog)"
    clip = CLIPScore.from_pretrained(clip_dir)
    img = F.normalize(clip.image_embeddings(images(3)), dim=-1)
    txt = F.normalize(clip.text_embeddings(["a photo of a cat.", "a photo of a dog.", "a photo of a red car."]), dim=-1)
    torch.testing.assert_close(s, (100 * img @ txt.T).log_softmax(-1)[:, 1], rtol=1e-4, atol=1e-4)


# -- self-supervised -----------------------------------------------------------------------------

def test_self_supervised_dinov2_and_clip(tmp_path, clip_dir, offline_hf):
    d = make_dinov2_dir(str(tmp_path / "dino"))
    v = SelfSupervised.from_pretrained(d)
    assert v.needs_mid_x0 and not v.uses_prompt
    imgs = images(3)
    with pytest.raises(ValueError, match="mid_images"):
        v.score(imgs)
    same = v.score(imgs, mid_images=imgs)
    torch.testing.assert_close(same, torch.ones(3), atol=1e-5, rtol=0)
    noisy = (imgs + 0.3 * torch.randn_like(imgs)).clamp(0, 1)
    other = v.score(imgs, mid_images=noisy)
    assert (other < 1 - 1e-4).all()
    make_hf_cache(str(offline_hf), "facebook/dinov2-base", d)
    torch.testing.assert_close(SelfSupervised.from_pretrained().score(imgs, mid_images=noisy), other)
    vc = SelfSupervised.from_pretrained(clip_dir)
    assert vc.kind == "clip"
    torch.testing.assert_close(vc.score(imgs, mid_images=imgs), torch.ones(3), atol=1e-5, rtol=0)


# -- cost ----------------------------------------------------------------------------------------

def test_flops_and_nfe_equivalents(clip_dir):
    assert ColorTarget("#ff0000").flops_per_image(512, 512) == 0.0
    v = CLIPScore.from_pretrained(clip_dir)
    f = v.flops_per_image(512, 512)
    # the vision tower alone, by hand: 2·params-ish matmuls; just check the order of magnitude
    assert 1e5 < f < 1e8
    assert nfe_equivalents(f, 2 * f) == 0.5
    assert verifier_nfe_equivalents(v, 512, 512, f, n_images=3) == 3.0
    with pytest.raises(ValueError):
        nfe_equivalents(1.0, 0)


def test_flops_on_meta_device_without_weights(clip_dir):
    """Full-size cost from a config alone: modules on the meta device, FlopCounterMode forward."""
    from transformers import AutoTokenizer, CLIPModel
    from verifiers.preprocess import clip_preprocess
    from tests.tiny_models import tiny_clip_config
    with torch.device("meta"):
        model = CLIPModel(tiny_clip_config())
    v = CLIPScore(model, AutoTokenizer.from_pretrained(clip_dir), clip_preprocess(32))
    real = CLIPScore.from_pretrained(clip_dir)
    assert v.flops_per_image(64, 64) == real.flops_per_image(64, 64)
