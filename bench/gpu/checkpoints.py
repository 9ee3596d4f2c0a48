"""Random-weight checkpoints at full size, built with the host's own classes, for the GPU run
(bench/gpu/run.py). Nothing is downloaded: every weight is drawn from a fixed seed.

- ``sd15`` / ``sdxl``: the host's ``UNetModel`` with the SD1.5 / SDXL configs the host detects
  (``bench/verifier_cost.py`` holds them, read off ``comfy/model_detection.py``), the host's text
  encoders (``SD1ClipModel``; ``SDXLClipModel``: CLIP-L + CLIP-G) and the host's ``AutoencoderKL``
  with the SD VAE config, saved as one checkpoint through the host's own
  ``process_*_state_dict_for_saving`` of ``comfy.supported_models.SD15`` / ``SDXL`` (the key layout
  ``CheckpointLoaderSimple`` reads back, as ComfyUI's own CheckpointSave writes it);
- ``tiny``: the same path with the one-level UNet of ``tests/tiny_checkpoint.py`` and a VAE decoder
  of 32 base channels (the host reads the decoder width off the weights), detected as SD1.5: what the
  dry run builds on a CPU;
- ``clip``: a CLIP ViT-L/14-sized ``transformers.CLIPModel`` (random, ``save_pretrained`` layout, with
  the test suite's small BPE tokenizer) for the pack's CLIPScore verifier; ``--tiny``: the test suite's
  tiny CLIP.

    python bench/gpu/checkpoints.py sd15 OUT.safetensors --comfy PATH [--device cuda] [--dtype fp16]
    python bench/gpu/checkpoints.py clip OUT_DIR [--tiny]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: the SD VAE (comfy/sd.py's default ddconfig); ``decoder_ch`` shrinks only the decoder (tiny)
VAE_DDCONFIG = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}


def init_(module, seed: int, device):
    """Draw every parameter from a fixed seed on ``device``: weights N(0, 1/fan_in) (activations keep
    unit scale through the network), biases 0, norm scales 1; float buffers other than running
    statistics untouched. The same rule as tests/tiny_checkpoint.py, drawn on the device (fast)."""
    import torch
    if str(device) == "meta":
        return
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                w = torch.randn(p.shape, generator=g, device=device, dtype=torch.float32)
                p.copy_(w * (1.0 / p[0].numel()) ** 0.5)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def _configs():
    sys.path.insert(0, str(REPO))
    from bench.verifier_cost import SD15, SDXL, TINY
    return {"sd15": SD15, "sdxl": SDXL, "tiny": TINY}


def build_state_dict(family: str, device: str = "cpu", dtype: str = "fp16", seed: int = 0):
    """The checkpoint's state dict (on the CPU, in ``dtype``) and what was built."""
    import torch
    import comfy.ops
    import comfy.supported_models as sm
    from comfy import sd1_clip, sdxl_clip
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    dt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    unet_cfg = dict(_configs()[family])
    config_cls = sm.SDXL if family == "sdxl" else sm.SD15
    model_config = config_cls(unet_cfg)
    ops = comfy.ops.disable_weight_init  # every weight is drawn below
    with torch.device(device):
        unet = UNetModel(**unet_cfg, dtype=torch.float32, device=device, operations=ops)
    init_(unet, seed, device)
    with torch.no_grad():  # eps predictions O(1): samples stay in a sane range
        for p in unet.out.parameters():
            p.mul_(0.3)
    clip_cls = sdxl_clip.SDXLClipModel if family == "sdxl" else sd1_clip.SD1ClipModel
    clip = clip_cls(device=device, dtype=torch.float32)
    init_(clip, seed + 1, device)
    with torch.no_grad():  # token and position embeddings are small in the real encoders too
        for name, p in clip.named_parameters():
            if name.endswith(("token_embedding.weight", "position_embedding.weight")):
                p.mul_(0.02)
    dec = dict(VAE_DDCONFIG, ch=32) if family == "tiny" else None
    with torch.device(device):
        vae = AutoencoderKL(ddconfig=dict(VAE_DDCONFIG), embed_dim=4,
                            **({"decoder_ddconfig": dec} if dec is not None else {}))
    init_(vae, seed + 2, device)

    home = "meta" if str(device) == "meta" else "cpu"  # meta: shapes only (the dry run's layout check)

    def cpu(sd):
        return {k: (v.to(home, dt) if v.is_floating_point() else v.to(home)).contiguous() for k, v in sd.items()}

    out = model_config.process_unet_state_dict_for_saving(cpu(unet.state_dict()))
    out.update(model_config.process_clip_state_dict_for_saving(cpu(clip.state_dict())))
    out.update(model_config.process_vae_state_dict_for_saving(cpu(vae.state_dict())))
    params = {"unet": sum(p.numel() for p in unet.parameters()), "text": sum(p.numel() for p in clip.parameters()),
              "vae": sum(p.numel() for p in vae.parameters())}
    return {k: v.contiguous() for k, v in out.items()}, params


def detected_family(sd) -> str:
    """What the host's own model detection reads off a checkpoint's UNet keys (SD15, SDXL, ...)."""
    import comfy.model_detection
    cfg = comfy.model_detection.model_config_from_unet(sd, "model.diffusion_model.")
    return type(cfg).__name__ if cfg is not None else "none"


def write_checkpoint(family: str, out: str, device: str = "cpu", dtype: str = "fp16", seed: int = 0) -> dict:
    import safetensors.torch
    t0 = time.perf_counter()
    sd, params = build_state_dict(family, device, dtype, seed)
    t_build = time.perf_counter() - t0
    detected = detected_family(sd)
    want = "SDXL" if family == "sdxl" else "SD15"
    if detected != want:
        raise RuntimeError(f"the host detects the {family} checkpoint as {detected}, not {want}")
    if str(device) == "meta":  # the layout check alone: nothing to save
        return {"family": family, "path": None, "detected": detected, "dtype": dtype, "device": "meta",
                "params": params, "bytes": 0, "build_s": t_build, "total_s": time.perf_counter() - t0}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    safetensors.torch.save_file(sd, tmp)
    os.replace(tmp, out)
    return {"family": family, "path": out, "detected": detected, "dtype": dtype, "device": device,
            "params": params, "bytes": os.path.getsize(out), "build_s": t_build,
            "total_s": time.perf_counter() - t0}


def write_clip(out: str, tiny: bool = False, device: str = "cpu", seed: int = 0) -> dict:
    """A CLIPModel directory for the CLIPScore verifier (``model_override``)."""
    import torch
    sys.path.insert(0, str(REPO))
    from tests import tiny_models as T
    t0 = time.perf_counter()
    if tiny:
        T.make_clip_dir(out, seed=seed)
    else:
        from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig
        vocab, _ = T.clip_vocab()
        text = CLIPTextConfig(vocab_size=len(vocab), hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                              num_attention_heads=12, max_position_embeddings=77, projection_dim=768,
                              bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                              pad_token_id=vocab["<|endoftext|>"])
        vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=224, patch_size=14, projection_dim=768)
        cfg = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=768)
        torch.manual_seed(seed)
        with torch.device(device):
            model = CLIPModel(cfg).eval()  # transformers' own init (normal, std 0.02)
        os.makedirs(out, exist_ok=True)
        model.to("cpu").save_pretrained(out)
        T.make_clip_tokenizer(out)
        T.write_preprocessor_config(out, 224, 224)
    n = sum(f.stat().st_size for f in Path(out).iterdir())
    return {"family": "clip", "path": out, "tiny": tiny, "bytes": n, "total_s": time.perf_counter() - t0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("family", choices=["sd15", "sdxl", "tiny", "clip"])
    ap.add_argument("out")
    ap.add_argument("--comfy", help="the ComfyUI source tree (checkpoints)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--tiny", action="store_true", help="clip: the test suite's tiny CLIP")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write what was built here")
    ap.add_argument("--layout-check", nargs="*", default=[], choices=["sd15", "sdxl"],
                    help="also build these on the meta device (shapes, no weights) and check what the host detects")
    a = ap.parse_args(argv)
    if a.family == "clip":
        info = write_clip(a.out, a.tiny, a.device, a.seed)
    else:
        sys.path.append(a.comfy)  # after the repo: both have a `tests` package
        sys.argv = sys.argv[:1] + (["--cpu"] if a.device != "cuda" else [])  # ComfyUI reads its flags at import
        import comfy.options
        comfy.options.enable_args_parsing()
        info = write_checkpoint(a.family, a.out, a.device, a.dtype, a.seed)
        info["layout_checks"] = {f: write_checkpoint(f, "", "meta", a.dtype)["detected"] for f in a.layout_check}
    print(json.dumps(info))
    if a.json:
        Path(a.json).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
