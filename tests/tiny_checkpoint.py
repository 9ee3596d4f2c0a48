"""Build a tiny random-weight checkpoint in Stable Diffusion 1.5 key layout with ComfyUI's own classes.

- UNet: ComfyUI's ``UNetModel`` with model_channels 320 and context_dim 768 (so ComfyUI detects it as
  SD1.5), one level, one res block, one transformer block;
- text encoder: ComfyUI's stock CLIP-L text model (``comfy/sd1_clip_config.json``);
- VAE: a TAESD (tiny autoencoder), which ComfyUI's VAE loader recognises by its keys.

Weights are drawn from a fixed seed, so the file is the same on every machine. Run inside the host's
venv with ComfyUI importable:  python tests/tiny_checkpoint.py OUT.safetensors --comfy PATH
"""
from __future__ import annotations

import argparse
import os
import sys


def _init_(module, seed: int):
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / fan_in) ** 0.5)
            elif name.endswith("bias"):
                p.zero_()
            else:  # norm scales
                p.fill_(1.0)
        for name, b in module.named_buffers():
            if b.is_floating_point():
                b.zero_() if "mean" in name else None


def build_state_dict(seed: int = 0):
    import torch
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    import comfy.sd1_clip
    from comfy.taesd.taesd import TAESD

    ops = comfy.ops.manual_cast
    unet = UNetModel(image_size=32, in_channels=4, model_channels=320, out_channels=4, num_res_blocks=[1],
                     channel_mult=[1], transformer_depth=[1], transformer_depth_middle=1,
                     transformer_depth_output=[1, 1], num_heads=8, context_dim=768, use_spatial_transformer=True,
                     use_linear_in_transformer=False, legacy=False, operations=ops)
    _init_(unet, seed)
    # damp the output so that eps predictions stay O(1): a random net is not a denoiser, but its
    # samples should stay in a sane range so images decode to varied, non-saturated pictures
    with torch.no_grad():
        for p in unet.out.parameters():
            p.mul_(0.3)

    clip = comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32)
    _init_(clip.transformer, seed + 1)
    with torch.no_grad():  # CLIP's embeddings are small in the real model too
        clip.transformer.text_model.embeddings.token_embedding.weight.mul_(0.02)
        clip.transformer.text_model.embeddings.position_embedding.weight.mul_(0.02)

    taesd = TAESD(latent_channels=4)
    _init_(taesd, seed + 2)

    sd = {}
    for k, v in unet.state_dict().items():
        sd["model.diffusion_model." + k] = v
    for k, v in clip.transformer.state_dict().items():
        sd["cond_stage_model.transformer." + k] = v.to(torch.float16)
    for k, v in taesd.state_dict().items():
        sd["first_stage_model." + k] = v
    return {k: v.contiguous() for k, v in sd.items()}


def write(path: str, seed: int = 0) -> str:
    import safetensors.torch
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    safetensors.torch.save_file(build_state_dict(seed), tmp)
    os.replace(tmp, path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--comfy", help="path of the ComfyUI source tree (default: <repo>/.host/ComfyUI)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    comfy_dir = a.comfy or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".host", "ComfyUI")
    sys.path.insert(0, comfy_dir)
    sys.argv = sys.argv[:1] + ["--cpu"]  # ComfyUI reads its CLI flags at import
    import comfy.options
    comfy.options.enable_args_parsing()
    write(a.out, a.seed)
    print(a.out)


if __name__ == "__main__":
    main()
