"""nodes/step_noise.py against the host's real comfy modules (CPU, no server), in a subprocess so
ComfyUI's module-level state never leaks into other tests:

- each row's step noise is the host's own noise sampler for that row alone (CPU, bit for bit);
- on a non-CPU device (``meta``) the noise comes back on the latent's device, from generators the
  host asked for on that device;
- the Brownian-tree ``cpu`` flag is the one each host sampler passes;
- the NFE probe counts the host sampler's model calls and spots adaptive samplers.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
from scripts.host import COMFY  # noqa: E402  (the core chosen by NOISE_SEARCH_CORE)


def test_host_core_is_installed():
    # no skip: these tests need the host's modules, which scripts/setup_host.sh installs
    assert (COMFY / "comfy" / "model_management.py").exists(), \
        f"host ComfyUI not installed at {COMFY}: run scripts/setup_host.sh"

SCRIPT = r'''
import os, sys, types
from types import SimpleNamespace
ROOT, COMFY = sys.argv[1], sys.argv[2]
sys.path.append(COMFY)
sys.path.append(ROOT)
import comfy.cli_args
comfy.cli_args.args.cpu = True
import torch
torch.set_num_threads(1)
pkg = types.ModuleType("nspack"); pkg.__path__ = [ROOT]; sys.modules["nspack"] = pkg
sub = types.ModuleType("nspack.nodes"); sub.__path__ = [os.path.join(ROOT, "nodes")]; sys.modules["nspack.nodes"] = sub
import comfy.model_sampling, comfy.samplers
from comfy.k_diffusion import sampling as K
from nspack.nodes import step_noise as S

sig = torch.tensor([14.6, 3.0, 0.9, 0.0])
seeds = [7, 123]

# rows are the host's batch-1 noise samplers, bit for bit (CPU)
x = torch.randn(2, 4, 8, 8)
for kind in [("default", None), ("brownian", True), ("brownian", False)]:
    ns = S.row_noise_sampler(kind, x, sig, seeds)
    out = ns(sig[0], sig[1])
    assert out.shape == x.shape and out.device == x.device
    for r, s in enumerate(seeds):
        if kind[0] == "default":
            ref = K.default_noise_sampler(x[r:r + 1], seed=s)
        else:
            ref = K.BrownianTreeNoiseSampler(x[r:r + 1], sig[sig > 0].min(), sig.max(), seed=s, cpu=kind[1])
        assert torch.equal(out[r:r + 1], ref(sig[0], sig[1])), (kind, r)

# the cpu flag and kind each host sampler uses when given no noise sampler
assert S.noise_kind(K.sample_euler_ancestral) == ("default", None)
assert S.noise_kind(K.sample_dpmpp_sde) == ("brownian", True)
assert S.noise_kind(K.sample_dpmpp_sde_gpu) == ("brownian", False)
assert S.noise_kind(K.sample_dpmpp_2m_sde_heun) == ("brownian", True), "follows the sampler it hands on to"
assert S.noise_kind(K.sample_euler) is None

# meta: torch has no meta generator, so one the host asks for on meta is recorded and stands in by
# a CPU one (randn on meta ignores it); everything else is the host's own code
asked = []
RealGen = torch.Generator
def Gen(device="cpu"):
    asked.append(torch.device(device).type)
    return RealGen("cpu") if torch.device(device).type == "meta" else RealGen(device)
torch.Generator = Gen
xm = torch.zeros(2, 4, 8, 8, device="meta")
ns = S.row_noise_sampler(("default", None), xm, sig, seeds)
out = ns(sig[0], sig[1])
assert out.device.type == "meta" and out.shape == xm.shape, out.device
assert asked == ["meta", "meta"], asked  # one generator per row, on the latent's device

# through with_row_noise: a sampler function written like the host's (its body names the host's
# default_noise_sampler) receives per-row noise on meta (host samplers branch on sigma values, which
# meta tensors do not have, so none of them can run there)
def sample_probe(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
    noise_sampler = K.default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    return noise_sampler(sigmas[0], sigmas[1])
asked.clear()
ks = S.with_row_noise(comfy.samplers.KSAMPLER(sample_probe), seeds)
y = ks.sampler_function(None, xm, sig, extra_args={"seed": 0}, callback=None, disable=True)
assert y.device.type == "meta" and y.shape == xm.shape and asked == ["meta", "meta"], (y.device, asked)
torch.Generator = RealGen

# the NFE probe: the host sampler's own model calls; adaptive samplers are spotted
class MS(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
    pass
ms = MS()
patcher = SimpleNamespace(model=SimpleNamespace(model_sampling=ms), get_model_object=lambda k: ms)
assert S.probe_nfe(comfy.samplers.sampler_object("euler"), patcher, sig, (4, 8, 8)) == 3
assert S.probe_nfe(comfy.samplers.sampler_object("heun"), patcher, sig, (4, 8, 8)) == 5
assert not S.probe_is_variable(comfy.samplers.sampler_object("heun"), patcher, sig, (4, 8, 8))
assert S.probe_is_variable(comfy.samplers.sampler_object("dpm_adaptive"), patcher, sig, (4, 8, 8))
# step noise that really changes the result (a noise sampler taken and not used counts as none)
assert S.probe_draws_noise(comfy.samplers.sampler_object("euler_ancestral"), patcher, sig, (4, 8, 8))
assert S.probe_draws_noise(comfy.samplers.sampler_object("dpmpp_sde"), patcher, sig, (4, 8, 8))
assert not S.probe_draws_noise(comfy.samplers.sampler_object("res_multistep"), patcher, sig, (4, 8, 8))
assert not S.probe_draws_noise(comfy.samplers.sampler_object("euler"), patcher, sig, (4, 8, 8))
assert not S.probe_draws_noise(comfy.samplers.sampler_object("euler_ancestral"), patcher, sig[-2:], (4, 8, 8))
# a custom sampler with eta = 0 (SamplerEulerAncestral / SamplerDPMPP_SDE nodes) adds no noise
assert not S.probe_draws_noise(comfy.samplers.ksampler("euler_ancestral", {"eta": 0.0}), patcher, sig, (4, 8, 8))
assert not S.probe_draws_noise(comfy.samplers.ksampler("dpmpp_sde", {"eta": 0.0}), patcher, sig, (4, 8, 8))
# the probes see the model as the patcher presents it (get_model_object), not as the last patcher that
# loaded it left it: after a flow clone (a ModelSamplingSD3-like object patch) ran, the shared model
# object holds the flow model_sampling until this patcher loads; an EPS search probed then (before its
# own load) must still probe EPS (seen: euler_ancestral's segments probed as adding no noise)
import comfy.model_patcher, comfy.model_sampling as cms
class _Eps(cms.ModelSamplingDiscrete, cms.EPS):
    pass
class _Flow(cms.ModelSamplingDiscreteFlow, cms.CONST):
    pass
net = torch.nn.Module(); net.model_sampling = _Eps()
eps_patcher = comfy.model_patcher.ModelPatcher(net, torch.device("cpu"), torch.device("cpu"))
flow_patcher = eps_patcher.clone(); flow_patcher.add_object_patch("model_sampling", _Flow())
flow_patcher.patch_model()  # the flow run loaded it: the shared model now holds the flow model_sampling
eps_sig = comfy.samplers.calculate_sigmas(eps_patcher.get_model_object("model_sampling"), "normal", 20).float()
for a, b in [(0, 5), (5, 10), (10, 15), (15, 20)]:
    assert S.probe_draws_noise(comfy.samplers.sampler_object("euler_ancestral"), eps_patcher, eps_sig[a:b + 1],
                               (4, 8, 8)), (a, b)
print("OK")
'''


def test_step_noise_against_the_host():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT), str(COMFY)], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout[-3000:] + r.stderr[-6000:]
