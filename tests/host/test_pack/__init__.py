"""Test-only ComfyUI nodes. tests/host/conftest.py links this folder into the test server's
custom_nodes; it never ships with the pack (the pack's own nodes live in nodes/).

- TestTinyTextConditioning: conditioning of the shape a tiny FLUX model takes. The host builds its
  FLUX text encoders (T5-XXL, Qwen3 / Mistral for FLUX.2) from fixed full-size configs, so a tiny
  text encoder will not load through the stock CLIPLoader; this draws fixed text embeddings from
  the prompt instead (deterministic: the same prompt gives the same tensor).
- TestTinyFluxLoader: the host's own ``comfy.sd.load_diffusion_model`` for hosts whose model
  detection fixes FLUX's head count (0.3.75: 24 heads for FLUX.1, 48 for FLUX.2, so only a
  3072 / 6144-wide model loads); it applies today's rule, heads = width / rotary width.
- TestNaNModel: a model whose every prediction is NaN (to test that a search refuses a NaN result).
"""
import zlib

import torch

import comfy.model_detection
import comfy.sd
import folder_paths


class TestTinyTextConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "a red apple"}),
                             "tokens": ("INT", {"default": 8, "min": 1, "max": 512}),
                             "width": ("INT", {"default": 32, "min": 1, "max": 8192}),
                             "pooled_width": ("INT", {"default": 0, "min": 0, "max": 8192})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "testing"

    def encode(self, text, tokens, width, pooled_width):
        g = torch.Generator().manual_seed(zlib.crc32(text.encode()))
        cond = torch.randn((1, tokens, width), generator=g)
        # no pooled vector: None, as the host's own encoders give (0.3.75's FLUX reads the key)
        extra = {"pooled_output": torch.randn((1, pooled_width), generator=g) if pooled_width else None}
        return ([[cond, extra]],)


class TestTinyFluxLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"unet_name": (folder_paths.get_filename_list("diffusion_models"),)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load"
    CATEGORY = "testing"

    def load(self, unet_name):
        orig = comfy.model_detection.detect_unet_config

        def detect(state_dict, key_prefix, *args, **kwargs):
            cfg = orig(state_dict, key_prefix, *args, **kwargs)
            if cfg is not None and cfg.get("image_model") in ("flux", "flux2"):
                cfg["num_heads"] = cfg["hidden_size"] // sum(cfg["axes_dim"])
            return cfg

        comfy.model_detection.detect_unet_config = detect
        try:
            return (comfy.sd.load_diffusion_model(folder_paths.get_full_path_or_raise("diffusion_models", unet_name)),)
        finally:
            comfy.model_detection.detect_unet_config = orig


class TestNaNModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    def patch(self, model):
        m = model.clone()
        m.set_model_sampler_post_cfg_function(lambda args: args["denoised"] * float("nan"))
        return (m,)


NODE_CLASS_MAPPINGS = {"TestTinyTextConditioning": TestTinyTextConditioning,
                       "TestTinyFluxLoader": TestTinyFluxLoader, "TestNaNModel": TestNaNModel}
