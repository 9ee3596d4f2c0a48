"""PickScore and HPSv2.1 on tiny random-weight files in the official layouts, checked against a
plain-torch forward written from the state dicts (tests/plain_clip.py)."""
import os

import pytest
import torch
import torch.nn.functional as F

from tests.plain_clip import hf_features, oc_features
from tests.tiny_reward import TINY_HPS_ARCH, hps_state_dict, make_hps_file, make_pickscore_dir
from verifiers.loading import load_state_dict
from verifiers.reward_models import HPSv2, KeyLayoutError, PickScore

PROMPTS = ["a photo of a red cat", "a blue car"]


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(2))


def test_pickscore_equals_plain_forward(tmp_path, images):
    path = make_pickscore_dir(str(tmp_path / "PickScore_v1"))
    v = PickScore.from_pretrained(path)
    got = v.score(images, PROMPTS)
    sd = load_state_dict(os.path.join(path, "model.safetensors"))
    px = v.preprocess(images)
    tok = v.tokenizer(PROMPTS, padding="max_length", truncation=True, max_length=v._max_len(), return_tensors="pt")
    img, txt = hf_features(sd, px, tok["input_ids"], heads=2, eos_id=v.tokenizer.eos_token_id)
    want = sd["logit_scale"].double().exp() * F.cosine_similarity(img, txt, dim=-1)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-4)
    assert float(sd["logit_scale"].exp()) != 1.0  # the scale is really applied


def test_pickscore_key_layout_error_names_keys(tmp_path):
    from safetensors.torch import save_file
    path = make_pickscore_dir(str(tmp_path / "PickScore_v1"))
    f = os.path.join(path, "model.safetensors")
    sd = load_state_dict(f)
    sd["vision_model.post_layernorm.gamma"] = sd.pop("vision_model.post_layernorm.weight")
    save_file(sd, f, metadata={"format": "pt"})
    with pytest.raises(KeyLayoutError) as ei:
        PickScore.from_pretrained(path)
    msg = str(ei.value)
    assert "vision_model.post_layernorm.weight" in msg and "vision_model.post_layernorm.gamma" in msg


def test_hps_equals_plain_forward(tmp_path, images):
    pytest.importorskip("open_clip")
    f = make_hps_file(str(tmp_path / "hps"))
    v = HPSv2.from_checkpoint(f, arch=TINY_HPS_ARCH)
    got = v.score(images, PROMPTS)
    sd = torch.load(f, weights_only=True)["state_dict"]
    ids = v.tokenizer(PROMPTS)["input_ids"]
    img, txt = oc_features(sd, v.preprocess(images), ids, vision_heads=2, text_heads=2)
    want = F.cosine_similarity(img, txt, dim=-1)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-4)


def test_hps_key_layout_error_names_keys(tmp_path):
    pytest.importorskip("open_clip")
    sd = hps_state_dict()
    sd["visual.extra_head.weight"] = torch.zeros(1)
    del sd["ln_final.bias"]
    f = tmp_path / "HPS_v2.1_compressed.pt"
    torch.save({"state_dict": sd}, f)
    with pytest.raises(KeyLayoutError) as ei:
        HPSv2.from_checkpoint(str(f), arch=TINY_HPS_ARCH)
    assert "ln_final.bias" in str(ei.value) and "visual.extra_head.weight" in str(ei.value)


def test_hps_folder_and_module_prefix(tmp_path, images):
    pytest.importorskip("open_clip")
    sd = {"module." + k: v for k, v in hps_state_dict(seed=1).items()}
    d = tmp_path / "hpsv2"
    d.mkdir()
    torch.save({"state_dict": sd}, d / "HPS_v2.1_compressed.pt")
    a = HPSv2.from_checkpoint(str(d), arch=TINY_HPS_ARCH).score(images, PROMPTS[0])
    b = HPSv2.from_checkpoint(make_hps_file(str(tmp_path / "b"), seed=1), arch=TINY_HPS_ARCH).score(images, PROMPTS[0])
    assert torch.equal(a, b)
