"""The ComfyUI glue (nodes/verifier_nodes.py, nodes/verifier_runtime.py) against the real ComfyUI
modules of the host install (.host/ComfyUI, CPU), without a server. Runs in a subprocess so
ComfyUI's module-level state (args, folder_paths, loaded models) never leaks into other tests.
Fails, saying so, when the host ComfyUI is not installed (scripts/setup_host.sh)."""
from tests.host_modules import PRELUDE, assert_host_installed, run_script


def test_host_core_is_installed():
    assert_host_installed()


SCRIPT = PRELUDE + r'''
import importlib.util
_spec = importlib.util.spec_from_file_location("tiny_models", os.path.join(ROOT, "tests", "tiny_models.py"))
tm = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(tm)  # ComfyUI has its own "tests"
make_clip_dir, make_dinov2_dir = tm.make_clip_dir, tm.make_dinov2_dir
vdir = os.path.join(TMP, "models", "verifiers")
make_clip_dir(os.path.join(vdir, "tiny-clip"))
make_dinov2_dir(os.path.join(vdir, "tiny-dino"))

vn = importlib.import_module("nspack.nodes.verifier_nodes")
rn = importlib.import_module("nspack.nodes.reports")
rt = importlib.import_module("nspack.nodes.verifier_runtime")


def score_node(*a, **k):  # Score Images as the executor runs it: outputs and UI payload
    o = rn.NoiseSearchScoreImages.execute(*a, **k)
    return {"ui": o.ui, "result": o.args}
import comfy.model_management as mm

# registration and definitions
assert "verifiers" in folder_paths.folder_names_and_paths
assert os.path.join(folder_paths.models_dir, "verifiers") in folder_paths.get_folder_paths("verifiers")
for cls in vn.NODES + [rn.NoiseSearchScoreImages]:
    s = cls.GET_SCHEMA()
    assert s.node_id.startswith("NoiseSearch") and s.display_name, s.node_id
    assert s.category == "sampling/noise search/verifiers", s.node_id
    if s.node_id != "NoiseSearchScoreImages":
        assert [o.io_type for o in s.outputs] == ["NS_VERIFIER"], s.node_id
def _inputs(cls):
    return {i.id: i for i in cls.GET_SCHEMA().inputs}
choices = _inputs(vn.NoiseSearchCLIPScore)["model"].options
assert choices[0] == "openai/clip-vit-large-patch14" and "tiny-clip" in choices, choices
assert not _inputs(vn.NoiseSearchCLIPScore)["prompt"].optional
assert not _inputs(vn.NoiseSearchImageReward)["prompt"].optional

g = torch.Generator().manual_seed(0)
imgs = torch.rand(5, 40, 36, 3, generator=g)
imgs[3, ..., 1] = 1.0; imgs[3, ..., 0] = 0.0; imgs[3, ..., 2] = 0.0  # a green one

# weight-free through the runtime and the ScoreImages node
green = vn.NoiseSearchColorTarget.execute("#00ff00")[0]
assert isinstance(green, rt.BoundVerifier)
rt.prepare(green)
s = rt.score_images(green, imgs)
_o = score_node(imgs, green)
assert _o['ui']['noise_search_scores'][0]['order'] == json.loads(_o['result'][2])['order']
srt, best, js, bs = _o['result']
d = json.loads(js)
assert d["best_index"] == 3 and int(torch.argmax(s)) == 3 and abs(bs - float(s[3])) < 1e-6
assert torch.equal(best[0], imgs[3]) and torch.equal(srt[0], imgs[3]) and srt.shape == imgs.shape
assert d["order"] == sorted(range(5), key=lambda i: -float(s[i]))

# CLIPScore from the models/verifiers combo, loaded through ComfyUI model management
clip = vn.NoiseSearchCLIPScore.execute("tiny-clip", "a photo of a cat")[0]
assert vn.NoiseSearchCLIPScore.execute("tiny-clip", "a photo of a cat")[0].verifier is clip.verifier  # shared
rt.prepare(clip)
p = clip.verifier.__dict__["_comfy_patcher"]
assert any(lm.model is p for lm in mm.current_loaded_models), "verifier not in ComfyUI's loaded models"
n_loaded = len(mm.current_loaded_models)
rt.prepare(clip); rt.score_images(clip, imgs[:1])
assert len(mm.current_loaded_models) == n_loaded  # nothing reloads per candidate
cs = rt.score_images(clip, imgs, chunk=2)
ref = clip.verifier.score(imgs, "a photo of a cat")
assert torch.allclose(cs, ref, atol=1e-5), (cs, ref)

# ensemble: ranks over all images whatever the chunking; members keep their prompts
ens = vn.NoiseSearchEnsemble.execute(green, clip, 1.0, 2.0)[0]
rt.prepare(ens)
assert [id(x) for x in rt.patchers_for(ens.verifier)] == [id(p)]  # the member's own patcher, shared
assert len(mm.current_loaded_models) == n_loaded
e2 = rt.score_images(ens, imgs, chunk=2)
e5 = rt.score_images(ens, imgs, chunk=5)
assert torch.allclose(e2, e5), (e2, e5)
assert rt.is_batch_relative(ens) and not rt.is_batch_relative(clip)
for i in range(5):
    rt.score_images(ens, imgs[i:i + 1])
hist = rt.rerank_history(ens)
assert hist.shape == (15,)  # 5 + 5 + 5 single images since prepare()
rt.prepare(ens)
for i in range(5):
    rt.score_images(ens, imgs[i:i + 1])
assert torch.allclose(rt.rerank_history(ens), e5)  # per-image calls, re-ranked jointly = one call
out = json.loads(score_node(imgs, ens)['result'][2])
assert set(out["members"]) == {"color_target(#00ff00)", "clipscore(tiny-clip)"}, out["members"].keys()

# self-supervised needs mid images
ss = vn.NoiseSearchSelfSupervised.execute("tiny-dino")[0]
try:
    score_node(imgs, ss)
    raise AssertionError("no error")
except ValueError as e:
    assert "mid_images" in str(e)
assert torch.allclose(score_node(imgs, ss, mid_images=imgs)['result'][3] * torch.ones(1), torch.ones(1), atol=1e-5)

# errors name the bad input
for call, needle in [
        (lambda: vn.NoiseSearchCLIPScore.execute("openai/clip-vit-large-patch14", "p"), "input 'model'"),
        (lambda: vn.NoiseSearchCLIPScore.execute("tiny-clip", "p", model_override="/nope/x"), "input 'model_override'"),
        (lambda: vn.NoiseSearchColorTarget.execute("#12"), "input 'color'"),
        (lambda: vn.NoiseSearchClassifier.execute("CLIP zero-shot", "tiny-clip", "cat", class_names="cat"), "input 'class_names'"),
        (lambda: vn.NoiseSearchEnsemble.execute(green, clip, 0.0, 0.0), "weight_"),
        (lambda: score_node(imgs, "x"), "input 'verifier'")]:
    try:
        call()
        raise AssertionError(f"no error for {needle}")
    except AssertionError:
        raise
    except Exception as e:
        assert needle in str(e), (needle, str(e))
try:
    vn.NoiseSearchCLIPScore.execute("openai/clip-vit-large-patch14", "p")
except Exception as e:
    m = str(e)
    assert os.path.join(vdir, "openai/clip-vit-large-patch14") in m and "hf download" in m, m
zs = vn.NoiseSearchClassifier.execute("CLIP zero-shot", "tiny-clip", "dog", class_names="cat\ndog\nred car")[0]
assert rt.score_images(zs, imgs).shape == (5,)
print("OK")
'''


def test_verifier_nodes_in_comfyui(tmp_path):
    run_script(SCRIPT, tmp_path)
