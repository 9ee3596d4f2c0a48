"""The NFE probe and the denoiser leave the caller's SIGMAS untouched, for every sampler the host
lists (issue 17, item 10: the host's UniPC writes ``timesteps[-1] = 0.001`` into a schedule that
ends at 0; a probe handed the node's own tensor changed it for the search and for any other node
fed by the same scheduler). On the real ComfyUI modules of the host install (CPU), in a subprocess."""
from scripts.host import tiny_checkpoint
from tests.host_modules import PRELUDE, assert_host_installed, run_script


def test_host_core_is_installed():
    assert_host_installed()


SCRIPT = PRELUDE + r'''
from types import SimpleNamespace
import comfy.model_sampling, comfy.samplers, comfy.sd
step_noise = importlib.import_module("nspack.nodes.step_noise")
from nspack.nodes.comfy_denoiser import ComfyDenoiser
S = importlib.import_module("nspack.search")

names = list(comfy.samplers.KSampler.SAMPLERS)
assert len(names) > 20 and "uni_pc" in names and "uni_pc_bh2" in names, names

# the probe alone, with the stand-in model it counts calls on
class MS(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
    pass
ms = MS()
patcher = SimpleNamespace(model=SimpleNamespace(model_sampling=ms), get_model_object=lambda k: ms)
changed = []
for name in names:
    sigmas = comfy.samplers.calculate_sigmas(ms, "normal", 4).cpu().float()
    keep = sigmas.clone()
    assert float(sigmas[-1]) == 0.0
    sampler = comfy.samplers.sampler_object(name)
    try:
        step_noise.probe_nfe(sampler, patcher, sigmas, (4, 8, 8))
        step_noise.probe_is_variable(sampler, patcher, sigmas, (4, 8, 8))
    except Exception as e:  # a sampler the stand-in cannot drive: what it did to the input still counts
        print("probe raised for", name, type(e).__name__, e)
    if not torch.equal(sigmas, keep):
        changed.append(("probe", name, sigmas.tolist()))

# through the denoiser on a real (tiny) model: construction probes, cost probes, sampling runs
model = comfy.sd.load_checkpoint_guess_config(sys.argv[4], output_vae=False, output_clip=False)[0]
g = torch.Generator().manual_seed(0)
guider = comfy.samplers.CFGGuider(model)
guider.set_conds([[torch.randn(1, 77, 768, generator=g), {}]], [[torch.zeros(1, 77, 768), {}]])
guider.set_cfg(3.0)
latent = torch.zeros(1, 4, 8, 8)
noise = S.seeded_noise([1, 4, 8, 8], 5)
# runs on the model for the samplers that write into their schedule, and two that do not (the
# probes above already cover every sampler; running all of them on the model is the slow part)
RUN = ("uni_pc", "uni_pc_bh2", "euler", "dpmpp_2m")
for name in names:
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", 3).cpu().float()
    keep = sigmas.clone()
    last = len(sigmas) - 1
    den = ComfyDenoiser(guider, comfy.samplers.sampler_object(name), sigmas, latent)
    den.cost(0, last), den.cost(1, last)
    if not torch.equal(sigmas, keep):
        changed.append(("denoiser probe", name, sigmas.tolist()))
    if name not in RUN:
        continue
    den.sample(noise, last, [5])
    den.predict_x0(noise, 1)
    if not torch.equal(sigmas, keep) or not torch.equal(den.sigmas, keep):
        changed.append(("denoiser run", name, sigmas.tolist(), den.sigmas.tolist()))
assert not changed, changed
print("OK")
'''


def test_probe_and_runs_leave_sigmas_untouched_for_every_sampler(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    run_script(SCRIPT, tmp_path, str(ckpt), timeout=600)
