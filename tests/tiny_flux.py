"""Tiny random-weight FLUX.1 and FLUX.2 diffusion models and their tiny autoencoders, built with the
host's own classes and saved in the files the stock loaders read.

- diffusion model: ComfyUI's ``comfy.ldm.flux.model.Flux`` with one double and one single block,
  one 128-wide attention head (the host's model detection fixes the rotary axes, so the head is
  128 wide), text width 32; saved as ``diffusion_models/tiny_<family>.safetensors`` in Black Forest
  Labs' key layout (no prefix, q/k norms as ``.scale``), which ``UNETLoader`` detects as that family;
- autoencoder: the host's TAESD for that latent (16 channels for FLUX.1, 128 for FLUX.2), saved as
  ``vae_approx/taef1_*`` / ``taef2_*`` for the stock ``VAELoader``'s ``taef1`` / ``taef2`` entries.
  A host without a FLUX.2 TAE (0.3.75) gets a single-file TAESD of 128 channels in ``vae/``.

Weights come from a fixed seed. The files are built at test time into the host's cache (never
committed):  python tests/tiny_flux.py OUT_DIR --comfy PATH
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

FAMILIES = {
    # what the host's model detection reads back from these weights (comfy/model_detection.py)
    "flux1": dict(in_channels=16, out_channels=16, vec_in_dim=32, context_in_dim=32, hidden_size=128,
                  mlp_ratio=4.0, num_heads=1, depth=1, depth_single_blocks=1, axes_dim=[16, 56, 56], theta=10000,
                  patch_size=2, qkv_bias=True, guidance_embed=True, txt_ids_dims=[]),
    "flux2": dict(in_channels=128, out_channels=128, vec_in_dim=None, context_in_dim=32, hidden_size=128,
                  mlp_ratio=3.0, num_heads=1, depth=1, depth_single_blocks=1, axes_dim=[32, 32, 32, 32], theta=2000,
                  patch_size=1, qkv_bias=False, guidance_embed=True, global_modulation=True, mlp_silu_act=True,
                  ops_bias=False, default_ref_method="index", ref_index_scale=10.0, txt_ids_dims=[3]),
}
#: text width and pooled width the conditioning must have (the test pack's conditioning node)
TEXT_WIDTH = 32
POOLED_WIDTH = {"flux1": 32, "flux2": 0}
LATENT_CHANNELS = {"flux1": 16, "flux2": 128}


def _init_(module, seed: int):
    """The tiny SD1.5 checkpoint's weight init (loaded by path: ComfyUI has a ``tests`` package too)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tiny_checkpoint", Path(__file__).with_name("tiny_checkpoint.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod._init_(module, seed)


def _flux_state_dict(family: str, seed: int):
    import torch
    import comfy.ops
    from comfy.ldm.flux.model import Flux, FluxParams
    fields = {f.name for f in dataclasses.fields(FluxParams)}  # the floor's Flux takes fewer options
    model = Flux(operations=comfy.ops.manual_cast, **{k: v for k, v in FAMILIES[family].items() if k in fields})
    _init_(model, seed)
    with torch.no_grad():  # keep velocity predictions O(1), so samples stay in a sane range
        for p in model.final_layer.parameters():
            p.mul_(0.3)
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith("_norm.weight"):  # BFL's files name the q/k RMSNorm scales ".scale"
            k = k[:-len("weight")] + "scale"
        out[k] = v.contiguous()
    return out


def _tae(latent_channels: int, seed: int):
    from comfy.taesd.taesd import TAESD
    tae = TAESD(latent_channels=latent_channels)
    _init_(tae, seed)
    return tae


def write(out_dir: str, seed: int = 0):
    import safetensors.torch
    out = Path(out_dir)
    for sub in ("diffusion_models", "vae_approx", "vae"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    def save(sd, rel):
        tmp = out / (rel + ".tmp")
        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp))
        os.replace(tmp, out / rel)

    for i, fam in enumerate(FAMILIES):
        save(_flux_state_dict(fam, seed + 10 * i), f"diffusion_models/tiny_{fam}.safetensors")
        tae = _tae(LATENT_CHANNELS[fam], seed + 10 * i + 1)
        name = "taef1" if fam == "flux1" else "taef2"
        if fam == "flux1" or type(tae.taesd_decoder).__name__ == "DecoderFlux2":
            save(tae.taesd_encoder.state_dict(), f"vae_approx/{name}_encoder.safetensors")
            save(tae.taesd_decoder.state_dict(), f"vae_approx/{name}_decoder.safetensors")
        else:  # no FLUX.2 TAE in this host: a plain TAESD of 128 channels, loaded from vae/
            save({f"taesd_{part}.{k}": v for part in ("encoder", "decoder")
                  for k, v in getattr(tae, f"taesd_{part}").state_dict().items()}, "vae/tiny_flux2_taesd.safetensors")


def vae_name(family: str, vae_choices) -> str:
    """The stock VAELoader's entry for ``family``'s tiny autoencoder on this host."""
    if family == "flux1":
        return "taef1"
    return "taef2" if "taef2" in vae_choices else "tiny_flux2_taesd.safetensors"


def install(base_dir: Path) -> Path:
    """Link the tiny FLUX files into ``base_dir/models`` (built once per builder version and host
    core into the host's cache)."""
    from scripts.host import COMFY, CORE, HOST, REPO, VENV_PY
    src = b"".join((REPO / "tests" / n).read_bytes() for n in ("tiny_flux.py", "tiny_checkpoint.py"))
    cached = HOST / "cache" / f"tiny_flux-{CORE}-{hashlib.sha256(src).hexdigest()[:12]}"
    if not (cached / "done").exists():
        tmp = cached.with_name(cached.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([str(VENV_PY), str(REPO / "tests" / "tiny_flux.py"), str(tmp), "--comfy", str(COMFY)],
                       check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=str(REPO))
        (tmp / "done").write_text("ok\n")
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(tmp, cached)
    for f in cached.glob("*/*.safetensors"):
        dest = Path(base_dir) / "models" / f.parent.name / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            dest.symlink_to(f)
    return cached


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--comfy", required=True, help="path of the ComfyUI source tree")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    sys.path.insert(0, a.comfy)
    sys.argv = sys.argv[:1] + ["--cpu"]  # ComfyUI reads its CLI flags at import
    import comfy.options
    comfy.options.enable_args_parsing()
    write(a.out, a.seed)
    print(a.out)


if __name__ == "__main__":
    main()
