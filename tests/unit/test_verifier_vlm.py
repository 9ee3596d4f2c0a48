"""VLM judge on tiny random-weight Qwen2-VL / Qwen2.5-VL checkpoints (save_pretrained layout)."""
import pytest
import torch

from tests.tiny_vlm import make_vlm_dir
from verifiers.vlm import AXES, OVERALL, QUESTION_TEMPLATE, RUBRIC_TEMPLATE, VLMJudge, expected_score

PROMPT = "a photo of a red cat"


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    return make_vlm_dir(str(tmp_path_factory.mktemp("vlm") / "tiny-qwen2-vl"), seed=0)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 24, 32, 3, generator=g)


def judge(path, mode, **kw):
    return VLMJudge.from_pretrained(path, mode=mode, **kw)


def hand_logits(path, image, question, append_one):
    """Independent forward: the processor's chat template, the model, the last positions."""
    from transformers import AutoModelForImageTextToText, AutoProcessor
    proc = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inp = proc(text=[text], images=[image.permute(2, 0, 1)], return_tensors="pt", do_rescale=False)
    inp = dict(inp)
    if append_one:
        one = proc.tokenizer.convert_tokens_to_ids("1")
        inp["input_ids"] = torch.cat([inp["input_ids"], torch.tensor([[one]])], 1)
        inp["attention_mask"] = torch.cat([inp["attention_mask"], torch.tensor([[1]])], 1)
        if "mm_token_type_ids" in inp:
            inp["mm_token_type_ids"] = torch.cat([inp["mm_token_type_ids"], torch.tensor([[0]])], 1)
    with torch.no_grad():
        return model(**inp).logits[0].double(), proc.tokenizer


def hand_expected(path, image, question):
    logits, tok = hand_logits(path, image, question, append_one=True)
    p, q = torch.softmax(logits[-2], -1), torch.softmax(logits[-1], -1)
    pid = {k: tok.convert_tokens_to_ids(str(k)) for k in range(10)}
    mass = {k: float(p[pid[k]]) for k in range(10)}
    q0 = float(q[pid[0]])
    mass[10], mass[1] = mass[1] * q0, mass[1] * (1 - q0)
    return sum(k * m for k, m in mass.items()) / sum(mass.values())


@pytest.mark.parametrize("mode", ["overall", "mean", "accuracy", "vqascore"])
def test_scores_in_range_and_deterministic(vlm_dir, images, mode):
    j = judge(vlm_dir, mode)
    a, b = j.score(images, PROMPT), j.score(images, PROMPT)
    assert torch.equal(a, b)
    hi = 1.0 if mode == "vqascore" else 10.0
    assert torch.isfinite(a).all() and (a >= 0).all() and (a <= hi).all()
    assert a.unique().numel() == 3  # random images get distinct scores


def test_batched_equals_one_by_one(vlm_dir, images):
    for mode in ("overall", "mean"):
        j = judge(vlm_dir, mode)
        together = j.score(images, PROMPT)
        alone = torch.cat([j.score(images[i:i + 1], PROMPT) for i in range(3)])
        torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


def test_prompt_reaches_the_model(vlm_dir, images):
    j = judge(vlm_dir, "overall")
    j.score(images[:1], "a photo of a red cat")
    a = j.last_logits.clone()
    j.score(images[:1], "a blue car in the sky")
    assert not torch.allclose(a, j.last_logits)
    assert "a blue car in the sky" in j.chat_text(j.questions("a blue car in the sky")[0])


def test_overall_and_axis_match_hand_computation(vlm_dir, images):
    got = judge(vlm_dir, "overall").score(images[:1], PROMPT)
    want = hand_expected(vlm_dir, images[0], RUBRIC_TEMPLATE.format(prompt=PROMPT, axis=OVERALL))
    assert abs(float(got) - want) < 1e-4
    got = judge(vlm_dir, "quality").score(images[:1], PROMPT)
    want = hand_expected(vlm_dir, images[0], RUBRIC_TEMPLATE.format(prompt=PROMPT, axis=AXES["quality"]))
    assert abs(float(got) - want) < 1e-4


def test_mean_is_mean_of_the_five_axes(vlm_dir, images):
    got = judge(vlm_dir, "mean").score(images[:1], PROMPT)
    axes = [hand_expected(vlm_dir, images[0], RUBRIC_TEMPLATE.format(prompt=PROMPT, axis=a)) for a in AXES.values()]
    assert abs(float(got) - sum(axes) / 5) < 1e-4
    assert max(axes) - min(axes) > 1e-6  # the axes really are different questions


def test_vqascore_is_p_yes(vlm_dir, images):
    got = judge(vlm_dir, "vqascore").score(images[1:2], PROMPT)
    logits, tok = hand_logits(vlm_dir, images[1], QUESTION_TEMPLATE.format(prompt=PROMPT), append_one=False)
    want = float(torch.softmax(logits[-1], -1)[tok.encode("Yes", add_special_tokens=False)[0]])
    assert abs(float(got) - want) < 1e-6


def test_editable_templates(vlm_dir, images):
    a = judge(vlm_dir, "vqascore").score(images[:1], PROMPT)
    b = judge(vlm_dir, "vqascore", question_template="Is this {prompt}? Yes or No.").score(images[:1], PROMPT)
    assert float(a) != float(b)
    with pytest.raises(ValueError, match="rubric_template"):
        judge(vlm_dir, "overall", rubric_template="Rate {bogus}")


def test_expected_score_with_single_token_ten():
    logits = torch.full((1, 20), -1e4)
    logits[0, 3], logits[0, 13] = 0.0, 0.0  # ids 3 -> score 3 ... id 13 -> score 10
    digits = list(range(10))
    s = expected_score(logits, None, digits, 13)
    assert abs(float(s) - 6.5) < 1e-6


def test_qwen2_5_vl_loads_and_scores(tmp_path, images):
    path = make_vlm_dir(str(tmp_path / "tiny-qwen2.5-vl"), seed=3, arch="qwen2_5_vl")
    j = judge(path, "overall")
    s = j.score(images[:2], PROMPT)
    assert torch.isfinite(s).all() and ((s >= 0) & (s <= 10)).all()
    assert abs(float(s[0]) - hand_expected(path, images[0], RUBRIC_TEMPLATE.format(prompt=PROMPT, axis=OVERALL))) < 1e-4


def test_cost_counts_every_question(vlm_dir):
    one = judge(vlm_dir, "overall").flops_per_image(24, 32)
    five = judge(vlm_dir, "mean").flops_per_image(24, 32)
    axes = sum(judge(vlm_dir, a).flops_per_image(24, 32) for a in AXES)
    # five rubric questions per image, one row each: at least the five alone, well under twice them
    # (rows are left-padded to the longest question; the padded batch costs 12.7% more than the
    # five alone on transformers 4.50, less on 5.x)
    assert one > 0 and axes <= five < 1.25 * axes


def test_half_precision_backbone_scores_through_an_fp32_head(vlm_dir, images):
    full = judge(vlm_dir, "overall")
    ref = full.score(images, PROMPT)
    half = judge(vlm_dir, "overall")
    half.model.to(torch.bfloat16)
    got = half.score(images, PROMPT)
    assert half.last_logits.dtype == torch.float32
    assert torch.isfinite(got).all() and (got - ref).abs().max() < 0.5
    # the LM head really ran in float32: its logits are not on bf16's grid
    lg = half.last_logits[0, 0]
    assert not torch.equal(lg, lg.to(torch.bfloat16).float())
