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


def _official_hps_reference(img: torch.Tensor, size: int) -> torch.Tensor:
    """HPSv2's official image transform written independently with PIL: the longest side resized
    (bicubic) to ``size``, the image pasted centred on a black ``size`` x ``size`` canvas (the left
    and top pads get the smaller half), then CLIP's normalisation."""
    import numpy as np
    from PIL import Image
    from verifiers.preprocess import CLIP_MEAN, CLIP_STD
    pil = Image.fromarray((img.numpy() * 255).round().astype(np.uint8))
    w, h = pil.size
    nh, nw = round(h * size / max(h, w)), round(w * size / max(h, w))
    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    canvas.paste(pil.resize((nw, nh), Image.BICUBIC), ((size - nw) // 2, (size - nh) // 2))
    x = torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).float() / 255
    return (x - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)


def _open_clip_reference(img: torch.Tensor, size: int):
    """OpenCLIP's own evaluation transform with the longest side fitted (None if this version has none)."""
    import inspect

    import numpy as np
    import open_clip
    from PIL import Image
    params = inspect.signature(open_clip.image_transform).parameters
    if "resize_mode" in params:
        t = open_clip.image_transform(size, is_train=False, resize_mode="longest", fill_color=0)
    elif "resize_longest_max" in params:
        t = open_clip.image_transform(size, is_train=False, resize_longest_max=True, fill_color=0)
    else:
        return None
    return t(Image.fromarray((img.numpy() * 255).round().astype(np.uint8)))


@pytest.mark.parametrize("hw", [(76, 52), (40, 76), (32, 32)])
def test_hps_preprocessing_is_the_official_longest_side_fit(tmp_path, hw):
    """HPSv2's scorer fits the longest side and pads black (OpenCLIP's ResizeMaxSize, chosen by its
    light_augmentation): a portrait or landscape image is seen whole, never centre-cropped."""
    pytest.importorskip("open_clip")
    v = HPSv2.from_checkpoint(make_hps_file(str(tmp_path / "hps")), arch=TINY_HPS_ARCH)
    size = v.input_size[0]
    g = torch.Generator().manual_seed(hw[0])
    img = (torch.rand(*hw, 3, generator=g) * 255).round() / 255  # exact in 8 bits, as PIL holds it
    got = v.preprocess(img[None])[0]
    assert got.shape == (3, size, size)
    for name, ref in (("PIL", _official_hps_reference(img, size)), ("open_clip", _open_clip_reference(img, size))):
        if ref is None:
            continue
        # PIL resizes in 8 bits: within a few levels of 255 (normalised by std ~0.27; measured max 0.014); a centre crop
        # or a different pad differs by whole image widths of content
        err = (got - ref).abs()
        assert float(err.mean()) < 0.01 and float(err.max()) < 0.05, (name, hw, float(err.mean()), float(err.max()))
    if hw[0] != hw[1]:  # the pad bands are black (0 before normalisation), the image keeps its aspect
        black = (torch.zeros(3) - torch.tensor(v.preprocess.mean)) / torch.tensor(v.preprocess.std)
        edge = got[:, :, 0] if hw[0] > hw[1] else got[:, 0, :]
        torch.testing.assert_close(edge, black[:, None].expand_as(edge))
