"""DrawBench's LLM-grader column: the VLM judge, held out, scoring the saved PNG against the prompt."""
import argparse
import io

import numpy as np
import torch
from PIL import Image

from bench import drawbench as D
from verifiers.vlm import VLMJudge


def test_llm_grader_column(tmp_path):
    assert "LLM grader" in D.EVAL_COLUMNS
    a = argparse.Namespace(clip_model=None, aesthetic_head=None, aesthetic_clip=None, image_reward_model=None,
                           vlm_model=None, vlm_mode="mean")
    D.make_tiny_specs(tmp_path, a)
    specs = D.Specs(a)
    evals = D.load_evaluators(specs, ["LLM grader"])
    rgb = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    got = D.evaluate(evals, buf.getvalue(), "a red cat")["LLM grader"]
    want = VLMJudge.from_pretrained(a.vlm_model, mode="mean").score(
        torch.from_numpy(rgb.astype(np.float32) / 255.0)[None], "a red cat")
    assert 0 <= got <= 10 and abs(got - float(want)) < 1e-6
