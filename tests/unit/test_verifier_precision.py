"""Verifier precision: on GPUs with bf16, ComfyUI-side loading casts a verifier's modules to bf16
(nodes/verifier_runtime.py). The backbone may stay there, but heads and final scores must be fp32:
a bf16 score has a step of 2^-5 = 0.031 between 4 and 8, so two images whose fp32 scores differ by
0.01 would tie and the first index would win. Each test tunes the last Linear so that two images
score about 6.00 and 6.01 in fp32, casts the verifier to bf16 as the GPU path does, and checks that
the scores still differ by about 0.01."""
import pytest
import torch
import torch.nn.functional as F

from tests.tiny_models import make_aesthetic_head, make_clip_dir, make_image_reward_files, make_vit_classifier_dir
from verifiers import AestheticScore, ClassifierLogit, ImageReward

GAP, LEVEL = 0.01, 6.0


def images(seed=3):
    return torch.rand(2, 40, 36, 3, generator=torch.Generator().manual_seed(seed))


def tune_last_linear(lin: torch.nn.Linear, row: int, s: torch.Tensor, offset: float = 0.0, scale: float = 1.0):
    """Rescale output ``row`` of ``lin`` so the fp32 scores ``s`` (two images, computed with ``lin``)
    become LEVEL + GAP and LEVEL, where score = (out - offset) / scale."""
    out = s * scale + offset  # the layer's output for the row
    with torch.no_grad():
        b = float(lin.bias[row])
        k = GAP * scale / float(out[0] - out[1])
        lin.weight[row] *= k
        lin.bias[row] = (LEVEL * scale + offset) - (float(out[1]) - b) * k


def check_bf16_keeps_gap(v, score):
    s32 = score(v)
    assert abs(float(s32[0] - s32[1]) - GAP) < 1e-4 and abs(float(s32[1]) - LEVEL) < 1e-3, s32
    v.to(dtype=torch.bfloat16)  # what the GPU path does (verifier_runtime.patcher_for casts the modules)
    assert v.dtype == torch.bfloat16
    s16 = score(v)
    assert s16.dtype == torch.float32
    assert float(s16[0]) != float(s16[1]), f"bf16 scores tie: {s16.tolist()}"
    assert abs(float(s16[0] - s16[1]) - GAP) < 0.004, (s16.tolist(), s32.tolist())


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_aesthetic_head_is_fp32_under_bf16(tmp_path, kind):
    clip = make_clip_dir(str(tmp_path / "clip"), seed=0)
    head = make_aesthetic_head(str(tmp_path / "head.pth"), dim=16, kind=kind)
    v = AestheticScore.from_pretrained(head, clip)
    lin = v.head if kind == "linear" else v.head.layers[7]
    tune_last_linear(lin, 0, v.score(images()))
    check_bf16_keeps_gap(v, lambda v: v.score(images()))


def test_classifier_logits_are_fp32_under_bf16(tmp_path):
    v = ClassifierLogit.from_pretrained(make_vit_classifier_dir(str(tmp_path / "vit")), "red car")
    tune_last_linear(v.model.classifier, v.target, v.score(images()))
    check_bf16_keeps_gap(v, lambda v: v.score(images()))


def test_image_reward_head_is_fp32_under_bf16(tmp_path):
    from verifiers.image_reward import SCORE_MEAN, SCORE_STD
    v = ImageReward.from_pretrained(make_image_reward_files(str(tmp_path / "ir"), seed=0))
    tune_last_linear(v.model.mlp.layers[7], 0, v.score(images(), "a cat"), SCORE_MEAN, SCORE_STD)
    check_bf16_keeps_gap(v, lambda v: v.score(images(), "a cat"))
