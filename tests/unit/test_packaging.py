"""What the Registry archive holds: `comfy node pack` / `publish` zip the git-tracked files less those
matching .comfyignore (gitignore patterns). Git's own matcher applies the same patterns here
(`git ls-files --cached --ignored --exclude-from=.comfyignore`), so comfy-cli is not needed: the
archive keeps what runs inside ComfyUI (and the cluster tool with its server launcher) and leaves tests,
benches, CI, the other scripts, the digits bed and the API twins out."""
import re
import subprocess
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]

def _git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.split("\n")


def _archive():
    tracked = {f for f in _git("ls-files", "--cached") if f}
    ignored = {f for f in _git("ls-files", "--cached", "--ignored", "--exclude-from=.comfyignore") if f}
    return tracked, tracked - ignored


def test_archive_leaves_out_tests_bench_ci_and_scripts():
    tracked, archive = _archive()
    for folder in ("tests/", "bench/", ".ci/", "api_workflows/", "digits_testbed/"):
        assert any(f.startswith(folder) for f in tracked), f"{folder} is not tracked: the check checks nothing"
        assert not [f for f in archive if f.startswith(folder)], folder
    assert "requirements-dev.txt" not in archive
    # of scripts/ only the server launcher the cluster tool uses
    assert sorted(f for f in archive if f.startswith("scripts/")) == ["scripts/__init__.py", "scripts/host.py"]


def test_archive_keeps_what_runs():
    tracked, archive = _archive()
    for f in ("__init__.py", "requirements.txt", "pyproject.toml", "LICENSE", "README.md"):
        assert f in archive, f
    for folder in ("nodes/", "search/", "verifiers/", "web/", "cluster/"):
        assert sorted(f for f in tracked if f.startswith(folder)) == sorted(f for f in archive if f.startswith(folder)) != [], folder
    # the templates and their thumbnails
    ui = [f for f in archive if f.startswith("example_workflows/")]
    assert any(f.endswith(".json") for f in ui) and any(f.endswith(".jpg") for f in ui), ui


def _module_file(name: str, tracked):
    """The tracked file of this repo that an absolute import of ``name`` loads (None: not ours)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        stem = "/".join(parts[:k])
        for f in (f"{stem}.py", f"{stem}/__init__.py"):
            if f in tracked:
                return f
    return None


def test_runtime_imports_nothing_left_out():
    tracked, archive = _archive()
    for f in archive:
        if f.endswith(".py"):
            src = (ROOT / f).read_text()
            for name in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", src, re.M):
                mod = _module_file(name, tracked)
                assert mod is None or mod in archive, (f, name, mod)


def test_pyproject_registry_fields():
    p = tomllib.loads((ROOT / "pyproject.toml").read_text())
    proj, comfy = p["project"], p["tool"]["comfy"]
    assert "Operating System :: OS Independent" in proj["classifiers"]
    valid = {"GPU :: NVIDIA CUDA", "GPU :: AMD ROCm", "GPU :: Intel Arc", "NPU :: Huawei Ascend", "GPU :: Apple Metal"}
    acc = [c[len("Environment :: "):] for c in proj["classifiers"] if c.startswith("Environment ::")]
    assert acc and set(acc) <= valid, acc
    for k in ("Repository", "Documentation", "Issues"):
        assert proj["urls"][k].startswith("https://"), k
    assert comfy["Banner"].startswith("https://") and comfy["Icon"].startswith("https://")
    # the frontend floor is the one the floor core (ComfyUI 0.3.75) pins
    floor = [d for d in proj["dependencies"] if d.startswith("comfyui-frontend-package")]
    assert floor == ["comfyui-frontend-package>=1.32.9"], floor
    assert comfy["requires-comfyui"] == ">=0.3.75"
    # the banner and icon URLs point at files of this repo
    for url in (comfy["Banner"], comfy["Icon"]):
        assert (ROOT / url.split("/main/", 1)[1]).exists(), url
