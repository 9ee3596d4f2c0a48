"""Missing-weights and corrupt-file messages (issue 10): `hf download`, no spurious `<cwd>/org/name`,
never torch's `weights_only=False` advice."""
import argparse
import os

import pytest
import torch

from verifiers.loading import WeightsNotFoundError, load_state_dict, resolve


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_missing_weights_say_hf_download_and_no_cwd_path(offline, tmp_path):
    dirs = [str(tmp_path / "models" / "verifiers")]
    with pytest.raises(WeightsNotFoundError) as ei:
        resolve("openai/clip-vit-large-patch14", dirs, what="CLIPScore model", required=("config.json",))
    msg = str(ei.value)
    assert "hf download openai/clip-vit-large-patch14" in msg
    assert "huggingface-cli" not in msg
    assert os.path.join(str(offline), "openai") not in msg
    assert os.path.join(dirs[0], "clip-vit-large-patch14") in msg  # where a download would land
    with pytest.raises(WeightsNotFoundError) as ei:
        resolve("THUDM/ImageReward:ImageReward.pt", dirs, what="ImageReward checkpoint")
    msg = str(ei.value)
    assert "hf download THUDM/ImageReward ImageReward.pt" in msg and "huggingface-cli" not in msg
    assert str(offline) not in msg


def test_image_reward_and_aesthetic_messages_say_hf_download(offline, tmp_path):
    from verifiers import AestheticScore, ImageReward
    for build in (lambda: ImageReward.from_pretrained("THUDM/ImageReward", [str(tmp_path)]),
                  lambda: AestheticScore.from_pretrained("sac+logos+ava1-l14-linearMSE.pth",
                                                         "openai/clip-vit-large-patch14", [str(tmp_path)])):
        with pytest.raises(Exception) as ei:
            build()
        assert "huggingface-cli" not in str(ei.value) and "hf download" in str(ei.value)


def test_truncated_pt_says_corrupt_without_unsafe_advice(tmp_path):
    f = tmp_path / "head.pth"
    torch.save({"weight": torch.randn(4, 4)}, f)
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError) as ei:
        load_state_dict(str(f))
    msg = str(ei.value)
    assert "corrupt or truncated" in msg and str(f) in msg
    assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg
    assert "download it again" in msg


def test_pickled_objects_never_suggest_unsafe_load(tmp_path):
    f = tmp_path / "odd.pt"
    torch.save({"w": torch.zeros(1), "cfg": argparse.Namespace(lr=1e-4)}, f)
    with pytest.raises(RuntimeError) as ei:
        load_state_dict(str(f))
    msg = str(ei.value)
    assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg
    assert "not only tensors" in msg and str(f) in msg


def test_corrupt_safetensors_says_corrupt(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(RuntimeError, match="corrupt or truncated"):
        load_state_dict(str(f))
