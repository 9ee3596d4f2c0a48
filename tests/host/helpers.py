import io
import json
from pathlib import Path

import numpy as np
import safetensors.torch
from PIL import Image


def saved_latent(host, outputs, node="save_latent"):
    item = outputs[node]["latents"][0]
    path = Path(host.base_dir) / "output" / item["subfolder"] / item["filename"]
    return safetensors.torch.load_file(str(path))["latent_tensor"]


def saved_images(host, outputs, node):
    return [np.asarray(Image.open(io.BytesIO(host.view(im))).convert("RGB")).astype(np.float64) / 255.0
            for im in outputs[node]["images"]]


def report(outputs, node="search"):
    return outputs[node]["noise_search"][0]


def color_score(img, target):
    """The ColorTarget verifier recomputed here: −‖mean RGB − target‖."""
    return -float(np.linalg.norm(img.reshape(-1, 3).mean(0) - np.asarray(target)))
