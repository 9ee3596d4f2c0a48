"""Where verifier weights come from: local path, models/verifiers folders, the HF cache (offline)."""
import os

import pytest

from tests.tiny_models import make_hf_cache
from verifiers.loading import WeightsNotFoundError, list_local, parse_hub_id, resolve


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def _model_dir(path):
    os.makedirs(path, exist_ok=True)
    (open(os.path.join(path, "config.json"), "w")).write("{}")
    return str(path)


def test_parse_hub_id():
    assert parse_hub_id("openai/clip-vit-large-patch14") == ("openai/clip-vit-large-patch14", None)
    assert parse_hub_id("THUDM/ImageReward:ImageReward.pt") == ("THUDM/ImageReward", "ImageReward.pt")
    assert parse_hub_id("clip-l") is None
    assert parse_hub_id("C:\\models\\x") is None
    assert parse_hub_id("/abs/path/x") is None


def test_local_path_and_models_folder(tmp_path, hf_home):
    d = _model_dir(tmp_path / "somewhere" / "clip")
    assert resolve(d, required=("config.json",)) == os.path.abspath(d)
    models = tmp_path / "models" / "verifiers"
    _model_dir(models / "my-clip")
    extra = tmp_path / "extra_verifiers"
    (extra).mkdir()
    (extra / "head.pth").write_bytes(b"x")
    dirs = [str(models), str(extra)]
    assert resolve("my-clip", dirs, required=("config.json",)) == str(models / "my-clip")
    assert resolve("head.pth", dirs) == str(extra / "head.pth")
    assert list_local(dirs) == ["head.pth", "my-clip"]


def test_hf_cache_snapshot_and_file_offline(tmp_path, hf_home):
    src = _model_dir(tmp_path / "src")
    snap = make_hf_cache(str(hf_home), "openai/clip-vit-large-patch14", src)
    got = resolve("openai/clip-vit-large-patch14", [], required=("config.json",))
    assert os.path.realpath(got) == os.path.realpath(snap)
    f = tmp_path / "file_src"
    f.mkdir()
    (f / "ImageReward.pt").write_bytes(b"x")
    snap2 = make_hf_cache(str(hf_home), "THUDM/ImageReward", str(f))
    got = resolve("THUDM/ImageReward", [], default_filename="ImageReward.pt")
    assert os.path.realpath(got) == os.path.realpath(os.path.join(snap2, "ImageReward.pt"))
    got = resolve("THUDM/ImageReward:ImageReward.pt", [])
    assert os.path.realpath(got) == os.path.realpath(os.path.join(snap2, "ImageReward.pt"))


def test_missing_weights_error_names_every_place_and_how_to_download(tmp_path, hf_home):
    dirs = [str(tmp_path / "models" / "verifiers"), str(tmp_path / "more")]
    with pytest.raises(WeightsNotFoundError) as ei:
        resolve("openai/clip-vit-large-patch14", dirs, what="CLIPScore model", required=("config.json",))
    msg = str(ei.value)
    assert "CLIPScore model 'openai/clip-vit-large-patch14' not found" in msg
    for d in dirs:
        assert os.path.join(d, "openai/clip-vit-large-patch14") in msg
    assert os.path.join(str(hf_home), "hub", "models--openai--clip-vit-large-patch14") in msg
    assert "hf download openai/clip-vit-large-patch14" in msg
    assert "HF_HUB_OFFLINE" in msg
    assert len(ei.value.looked) == 5  # two folders (org/name and name in each), the cache

    with pytest.raises(WeightsNotFoundError) as ei:
        resolve("no-such-file.pth", dirs)
    assert f"put it in {dirs[0]}" in str(ei.value)


def test_folder_without_config_is_not_a_model(tmp_path, hf_home):
    (tmp_path / "models" / "empty").mkdir(parents=True)
    with pytest.raises(WeightsNotFoundError, match="lacks config.json"):
        resolve("empty", [str(tmp_path / "models")], required=("config.json",))
