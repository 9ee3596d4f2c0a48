"""Importing the verifiers never imports torchvision (nor transformers: models load lazily), and
scoring works with torchvision made unimportable (nothing here needs it)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["verifiers", "verifiers.base", "verifiers.weightfree", "verifiers.loading", "verifiers.preprocess",
           "verifiers.flops", "verifiers.clip", "verifiers.image_reward", "verifiers.aesthetic",
           "verifiers.ensemble", "verifiers.classifier", "verifiers.self_supervised"]


def _run(code: str, timeout=120):
    r = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=timeout,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r.stdout


def test_import_pulls_neither_torchvision_nor_transformers():
    code = ("import importlib, sys\n"
            f"for m in {MODULES!r}:\n"
            "    importlib.import_module(m)\n"
            "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('torchvision', 'transformers', 'comfy', 'open_clip', 'timm'))\n"
            "print('BAD', bad)\n"
            "assert not bad, bad\n")
    _run(code)


def test_scoring_works_with_torchvision_blocked(tmp_path):
    code = ("import sys\n"
            "for m in ('torchvision', 'timm', 'open_clip'):\n"
            "    sys.modules[m] = None  # import fails; find_spec says absent\n"
            "import torch\n"
            "from tests.tiny_models import make_clip_dir, make_image_reward_files\n"
            f"d = make_clip_dir({str(tmp_path / 'clip')!r})\n"
            f"r = make_image_reward_files({str(tmp_path / 'ir')!r})\n"
            "from verifiers import CLIPScore, ImageReward, AestheticScore\n"
            "imgs = torch.rand(2, 40, 36, 3)\n"
            "print(CLIPScore.from_pretrained(d).score(imgs, 'a cat'))\n"
            "print(ImageReward.from_pretrained(r).score(imgs, 'a cat'))\n")
    _run(code)


def test_open_clip_missing_gives_clear_error(monkeypatch):
    from verifiers import CLIPScore
    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if open_clip_torch were not installed
    with pytest.raises(ImportError, match="open_clip_torch"):
        CLIPScore.from_open_clip("ViT-L-14", "openai")


def test_open_clip_backend_tiny():
    import open_clip
    import torch
    from verifiers.clip import CLIPScore, _OpenCLIPAdapter, _OpenCLIPTokenizer
    from verifiers.preprocess import clip_preprocess
    cfg = dict(embed_dim=16, vision_cfg=dict(image_size=32, layers=1, width=32, head_width=16, patch_size=8),
               text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1))
    model = open_clip.CLIP(**cfg).eval()
    v = CLIPScore(_OpenCLIPAdapter(model), _OpenCLIPTokenizer(lambda t: torch.randint(0, 100, (len(t), 16))),
                  clip_preprocess(32), clamp=False)
    assert v.score(torch.rand(2, 40, 40, 3), "a cat").shape == (2,)
