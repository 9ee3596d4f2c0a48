"""Scoring glue (nodes/scoring.py, Score Images) and the ComfyUI denoiser's solver restarts, on the
real ComfyUI modules of the host install (CPU), without a server. Each script runs in a subprocess
so ComfyUI's module-level state never leaks into other tests (issue 10: items 3, 7, 9, 11 and the
spurious ensemble warning)."""
from scripts.host import tiny_checkpoint
from tests.host_modules import PRELUDE as _BASE, assert_host_installed, run_script


def test_host_core_is_installed():
    assert_host_installed()


PRELUDE = _BASE + r'''
import importlib
vn = importlib.import_module("nspack.nodes.verifier_nodes")
rn = importlib.import_module("nspack.nodes.reports")
Scorer = importlib.import_module("nspack.nodes.scoring").Scorer


def score_node(*a, **k):  # Score Images as the executor runs it: outputs and UI payload
    o = rn.NoiseSearchScoreImages.execute(*a, **k)
    return {"ui": o.ui, "result": o.args}
rt = importlib.import_module("nspack.nodes.verifier_runtime")
S = importlib.import_module("nspack.search")
V = importlib.import_module("nspack.verifiers")
base = importlib.import_module("nspack.verifiers.base")
'''

SCORING = PRELUDE + r'''
FAILED = []
def section(name):
    def wrap(fn):
        try:
            fn()
            print("ok:", name)
        except Exception as e:  # noqa: BLE001 - every section reports, then the script fails
            import traceback
            FAILED.append(name)
            print("FAIL:", name, type(e).__name__, e)
            traceback.print_exc()
    return wrap

def strict(text):  # JSON without NaN / Infinity
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))

# -- Score Images: non-finite scores rank lowest, never the best, never literal NaN in the JSON ---
bright = vn.NoiseSearchBrightness.execute(0.5)[0]
@section("score images: NaN ranks lowest, JSON without NaN")
def _():
  for levels, best in (([0.1, float("nan"), 0.5, 0.3], 2), ([float("nan"), 0.1, 0.5, 0.3], 2)):
    imgs = torch.stack([torch.full((4, 4, 3), v) for v in levels])
    out = score_node(imgs, bright)["result"]
    assert torch.equal(out[1], imgs[best:best + 1]) and out[3] == 0.0, (levels, out[3])
    detail = strict(out[2])
    assert detail["best_index"] == best, (levels, detail)
    assert detail["order"][-1] == [i for i, v in enumerate(levels) if v != v][0], detail

@section("score images: all NaN is an error naming 'images'")
def _():
  try:
    score_node(torch.full((2, 4, 4, 3), float("nan")), bright)
  except ValueError as e:
    assert "'images'" in str(e), e
  else:
    raise AssertionError("all-NaN images scored as success")

# -- a search through the real Scorer with a rank ensemble of two scripted members ---------------
class Chan(base.Verifier):
    """Member score = 100 x the mean of one colour channel (the fake VAE writes the script there)."""
    def __init__(self, c):
        self.c, self.name = c, f"chan{c}"
    def _score(self, images, prompts, mid_images):
        return images[..., self.c].float().mean(dim=(1, 2)) * 100

class VAE:
    def decode(self, z):  # latent [1, 2] -> image [1, 2, 2, 3]
        img = torch.zeros(z.shape[0], 2, 2, 3)
        img[..., 0] = z[:, 0, None, None] / 100
        img[..., 1] = z[:, 1, None, None] / 100
        return img

class FakeDen:
    """A protocol fake whose samples are scripted latents (m1, m2); scoring goes through the Scorer."""
    parameterization, latent_shape, mid_index = "ve", (2,), None
    def __init__(self, scorer, script):
        self.scorer, self.script, self.nfe, self.verifier_calls = scorer, list(script), 0, 0
        self.sigmas = torch.tensor([1.0, 0.0])
    def cost(self, a, b):
        return b - a
    def sample(self, noise, end, seeds, x0_at=None):
        rows, self.script = self.script[:noise.shape[0]], self.script[noise.shape[0]:]
        self.nfe += noise.shape[0]
        return torch.tensor(rows, dtype=torch.float32)
    def score(self, x0, mid_x0=None):
        self.verifier_calls += x0.shape[0]
        return self.scorer(self.scorer.decode(x0, None), None)
    def rank(self, s):
        return self.scorer.rank(s)
    def release(self, x):
        getattr(self.scorer, "release", lambda x: None)(x)

ens = rt.BoundVerifier(V.Ensemble([Chan(0), Chan(1)]), "")
records = []
class Catch(logging.Handler):
    def emit(self, rec):
        records.append(rec.getMessage())
logging.getLogger().addHandler(Catch())
rt.prepare(ens)

@section("zero-order with a rank ensemble: the pivot is ranked with its neighbours")
def _():
    # P(0,0), A(10,10), B(5,20): A becomes the pivot; D(11,11) beats A on both members and must win
    den = FakeDen(Scorer(VAE(), ens, 4), [(0, 0), (10, 10), (5, 20), (11, 11), (1, 1)])
    res = S.ZeroOrderSearch(n_neighbors=2, lam=0.5, iterations=2).run(den, 1, max_batch=4)
    assert res.recipe["winner"]["candidate"] == 3 and res.recipe["restarts"] == [], (res.recipe, res.candidates)

@section("no 'scored one image at a time' warning from an ensemble search")
def _():
    den = FakeDen(Scorer(VAE(), ens, 4), [(1, 2), (3, 1), (2, 2)])
    S.RandomSearch(n=3).run(den, 1, max_batch=2)
    assert not [m for m in records if "one image at a time" in m], records

@section("memory: decoded images leave the cache once released")
def _():
    sc = Scorer(VAE(), bright, 4)
    lat = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    first = sc.decode(lat)
    assert torch.equal(sc.decode(lat), first) and len(sc.cache.images) == 3
    sc.release(lat[:2])
    assert len(sc.cache.images) == 1

assert not FAILED, FAILED
print("OK")
'''

MULTISTEP = PRELUDE + r'''
import comfy.sd, comfy.samplers
from nspack.nodes.comfy_denoiser import ComfyDenoiser
ckpt = sys.argv[4]
model = comfy.sd.load_checkpoint_guess_config(ckpt, output_vae=False, output_clip=False)[0]
g = torch.Generator().manual_seed(0)  # conditioning of CLIP-L's shape (loading the text encoder is slow)
pos = [[torch.randn(1, 77, 768, generator=g), {}]]
neg = [[torch.zeros(1, 77, 768), {}]]
guider = comfy.samplers.CFGGuider(model)
guider.set_conds(pos, neg)
guider.set_cfg(3.0)
sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", 6).cpu()
latent = torch.zeros(1, 4, 8, 8)
noise = S.seeded_noise([1, 4, 8, 8], 5)
last, c = len(sigmas) - 1, 3

def den(name):
    return ComfyDenoiser(guider, comfy.samplers.sampler_object(name), sigmas, latent)

def split_vs_full(name):
    d = den(name)
    full = d.sample(noise, last, [5])
    split = d.denoise(d.sample(noise, c, [5]), c, last, [5])
    return full, split, d

# a trajectory split at c (what every hop of search over paths is) equals the one-call trajectory
# for Euler, but not for multistep solvers: the second call starts without their history
full, split, _ = split_vs_full("euler")
assert torch.allclose(full, split, atol=1e-5), (full - split).abs().max()
for name in ("dpmpp_2m", "lms", "uni_pc"):
    full, split, _ = split_vs_full(name)
    assert (full - split).abs().max() > 1e-4, (name, (full - split).abs().max())
# ... and the restart's first step is first order: dpmpp_2m's and lms's first step is an Euler step
x = den("euler").sample(noise, c, [5])
ref = den("euler").denoise(x, c, c + 1, [5])
for name in ("dpmpp_2m", "lms"):
    step = den(name).denoise(x, c, c + 1, [5])
    assert torch.allclose(step, ref, atol=1e-5), (name, (step - ref).abs().max())
    two = den(name).denoise(x, c, c + 2, [5])
    euler2 = den("euler").denoise(ref, c + 1, c + 2, [5])
    assert (two - euler2).abs().max() > 1e-5, name  # the second step of one call is multistep again
print("OK")
'''


def _run(script, tmp_path, *extra):
    run_script(script, tmp_path, *extra)


def test_scoring_ranks_non_finite_lowest_ranks_ensembles_per_decision_and_releases(tmp_path):
    _run(SCORING, tmp_path)


def test_multistep_solvers_restart_first_order_after_every_renoise(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    _run(MULTISTEP, tmp_path, str(ckpt))
