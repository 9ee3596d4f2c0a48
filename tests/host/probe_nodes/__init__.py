"""Test-only ComfyUI nodes, linked into the test server's custom_nodes by tests/host/conftest.py
(never shipped with the pack): a counter on a model's denoiser evaluations, a digest of IMAGE
tensors, and which models the host holds loaded."""
import hashlib

import comfy.model_management
import comfy.model_patcher

COUNTS = {}


class NSTestCountNFE:
    """MODEL -> the same model with a post-CFG function counting evaluations (per latent) under ``label``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "label": ("STRING", {"default": "x"})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "wrap"
    CATEGORY = "testing"

    @classmethod
    def IS_CHANGED(cls, **kw):
        return float("nan")

    def wrap(self, model, label):
        COUNTS[label] = 0

        def count(args):
            COUNTS[label] += args["denoised"].shape[0]
            return args["denoised"]
        m = model.clone()
        m.model_options = comfy.model_patcher.set_model_options_post_cfg_function(m.model_options, count)
        return (m,)


class NSTestReport:
    """Output node: the count under ``label`` (read after ``after`` ran), SHA-256 of each IMAGE row
    as float32 bytes, and whether ``model`` is among the host's loaded models."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"label": ("STRING", {"default": "x"})},
                "optional": {"after": ("LATENT",), "images": ("IMAGE",), "model": ("MODEL",)}}

    RETURN_TYPES = ()
    FUNCTION = "report"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    @classmethod
    def IS_CHANGED(cls, **kw):
        return float("nan")

    def report(self, label, after=None, images=None, model=None):
        out = {"nfe": [COUNTS.get(label)]}
        if images is not None:
            out["digests"] = [hashlib.sha256(im.float().contiguous().numpy().tobytes()).hexdigest() for im in images]
        if model is not None:
            out["loaded"] = [any(lm.model is not None and lm.model.model is model.model
                                 for lm in comfy.model_management.current_loaded_models)]
        return {"ui": out}


NODE_CLASS_MAPPINGS = {"NSTestCountNFE": NSTestCountNFE, "NSTestReport": NSTestReport}
