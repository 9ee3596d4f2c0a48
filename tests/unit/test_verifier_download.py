"""Missing weights download on first use into models/verifiers/<name>/, from a local fake hub
(HF_ENDPOINT=127.0.0.1); never when HF_HUB_OFFLINE is set or downloads are switched off.

huggingface_hub reads HF_HUB_OFFLINE once, when imported (the test command sets it), so the cases
that download clear its copy too; our own check reads the environment at call time."""
import os

import pytest
import torch

from tests.fake_hub import FakeHub, folder_files
from tests.tiny_models import make_aesthetic_head, make_clip_dir
from verifiers import CLIPScore, download
from verifiers.loading import WeightsNotFoundError, resolve


def run(tmp_path, monkeypatch, endpoint, allow=None, **env):
    import huggingface_hub.constants as hc
    vdir = tmp_path / "models" / "verifiers"
    vdir.mkdir(parents=True, exist_ok=True)
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "NOISE_SEARCH_ALLOW_DOWNLOAD"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    seen, out = [], {}
    with download.settings(allow=allow, progress=lambda d, n, t: seen.append((d, n, t))):
        try:
            v = CLIPScore.from_pretrained("openai/clip-vit-large-patch14", [str(vdir)])
            out["score"] = float(v.score(torch.full((1, 32, 32, 3), 0.5), "a red cat")[0])
            out["head"] = resolve("camenduru/improved-aesthetic-predictor:head.pth", [str(vdir)])
        except WeightsNotFoundError as e:
            out["error"] = str(e)
    out["progress"] = seen
    return out, vdir


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("hubsrc")
    clip = make_clip_dir(str(base / "clip"))
    head = make_aesthetic_head(str(base / "head.pth"), dim=16)
    return {"openai/clip-vit-large-patch14": folder_files(clip),
            "camenduru/improved-aesthetic-predictor": {"head.pth": open(head, "rb").read(), "README.md": b"x"}}


def test_downloads_into_models_verifiers_with_progress(tmp_path, monkeypatch, hub_files):
    with FakeHub(hub_files) as hub:
        out, vdir = run(tmp_path, monkeypatch, hub.url)
    assert "error" not in out, out.get("error")
    local = vdir / "clip-vit-large-patch14"
    assert (local / "config.json").is_file() and (local / "model.safetensors").is_file()
    assert out["head"] == str(vdir / "improved-aesthetic-predictor" / "head.pth")
    assert not (vdir / "improved-aesthetic-predictor" / "README.md").exists()  # one file asked, one fetched
    assert any(m == "GET" and p.endswith("/resolve/main/model.safetensors") for m, p in hub.requests)
    done = [(n, t) for d, n, t in out["progress"] if d.endswith("model.safetensors")]
    size = len(hub_files["openai/clip-vit-large-patch14"]["model.safetensors"])
    assert done and done[-1] == (size, size)  # the bar reached the file's size
    # second use: found in models/verifiers, nothing asked of the hub
    with FakeHub(hub_files) as hub2:
        out2, _ = run(tmp_path, monkeypatch, hub2.url)
    assert hub2.requests == [] and out2["score"] == out["score"]


@pytest.mark.parametrize("how", ["offline", "switch", "env"])
def test_no_download_when_offline_or_switched_off(tmp_path, monkeypatch, hub_files, how):
    env = {"HF_HUB_OFFLINE": "1"} if how == "offline" else ({"NOISE_SEARCH_ALLOW_DOWNLOAD": "0"} if how == "env" else {})
    with FakeHub(hub_files) as hub:
        out, vdir = run(tmp_path, monkeypatch, hub.url, allow=False if how == "switch" else None, **env)
    assert hub.requests == []
    assert not (vdir / "clip-vit-large-patch14").exists()
    msg = out["error"]
    assert os.path.join(str(vdir), "openai/clip-vit-large-patch14") in msg
    assert os.path.join(str(vdir), "clip-vit-large-patch14") in msg
    assert "models--openai--clip-vit-large-patch14" in msg and "hf download" in msg
    assert ("HF_HUB_OFFLINE" in msg) if how == "offline" else ("switched off" in msg)


def test_failed_download_is_listed(tmp_path, monkeypatch, hub_files):
    with FakeHub({}) as hub:
        out, _ = run(tmp_path, monkeypatch, hub.url)
    assert f"download from {hub.url}: openai/clip-vit-large-patch14" in out["error"]
    assert "failed" in out["error"]


def test_pick_files_fetches_configs_and_one_weight_format():
    from verifiers.download import pick_files
    names = ["config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "vocab.txt", "README.md",
             "onnx/model.onnx", "flax_model.msgpack", "modeling_x.py"]
    assert pick_files(names) == ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]
    assert pick_files(["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]
    assert pick_files(names, ("*.json", "*.txt")) == ["config.json", "tokenizer.json", "vocab.txt"]  # tokenizers only


def test_download_interrupted_between_files_is_not_found_and_resumes(tmp_path, monkeypatch, hub_files):
    """A snapshot cut off after its first files (config.json there, the weights not) never counts
    as found: with downloads off it is reported as unfinished; with them on it resumes, keeping the
    files already there, and then loads and scores like an uninterrupted download."""
    repo = "openai/clip-vit-large-patch14"
    files = hub_files[repo]
    assert list(files).index("config.json") < list(files).index("model.safetensors")  # fetched in this order
    with FakeHub(hub_files, fail={(repo, "model.safetensors")}) as hub:
        out, vdir = run(tmp_path, monkeypatch, hub.url)
    local = vdir / "clip-vit-large-patch14"
    assert "failed" in out["error"] and (local / "config.json").is_file() and not (local / "model.safetensors").exists()
    # downloads off: not found (never a load error), and the message says the folder is unfinished
    with FakeHub(hub_files) as hub:
        off, _ = run(tmp_path, monkeypatch, hub.url, allow=False)
    assert hub.requests == [] and "unfinished download" in off["error"] and "model.safetensors" in off["error"], off
    # downloads on: resumes; the finished folder then counts as found with nothing asked of the hub
    with FakeHub(hub_files) as hub:
        again, _ = run(tmp_path, monkeypatch, hub.url)
    assert "error" not in again, again.get("error")
    gets = [p for m, p in hub.requests if m == "GET"]
    assert any(p.endswith("/model.safetensors") for p in gets)
    assert not any(p.endswith("/config.json") for p in gets), gets  # kept, not fetched again
    assert not (local / download.MARKER).exists()
    clean_home = tmp_path / "clean"
    clean_home.mkdir()
    with FakeHub(hub_files) as hub:
        clean, _ = run(clean_home, monkeypatch, hub.url)
    assert again["score"] == clean["score"]
    with FakeHub(hub_files) as hub:
        third, _ = run(tmp_path, monkeypatch, hub.url)
    assert hub.requests == [] and third["score"] == clean["score"]


def test_interrupted_download_into_the_hf_cache_resumes(tmp_path, monkeypatch, hub_files):
    """The same without a models folder: the snapshot lands in the Hugging Face cache."""
    import huggingface_hub.constants as hc
    repo = "openai/clip-vit-large-patch14"
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "NOISE_SEARCH_ALLOW_DOWNLOAD"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    with FakeHub(hub_files, fail={(repo, "model.safetensors")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsNotFoundError):
            resolve(repo, [], required=("config.json",))
    with FakeHub(hub_files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsNotFoundError) as ei:
            resolve(repo, [], required=("config.json",), allow_download=False)
        assert "unfinished download" in str(ei.value)
        path = resolve(repo, [], required=("config.json",))
    assert os.path.isfile(os.path.join(path, "model.safetensors"))
    assert resolve(repo, [], required=("config.json",), allow_download=False) == path
