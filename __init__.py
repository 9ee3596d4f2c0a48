"""comfyui-noise-search: inference-time search over diffusion noise for ComfyUI.

Loaded by ComfyUI as a custom node pack: exports the node mappings and the web extension folder.
Imported outside ComfyUI (test tools walking the package tree, ``import search`` from the repo
root), there is no host to register nodes with, so nothing is exported; any other import error in
the pack is raised as usual (and the host tests check that every node registers).
"""
import importlib.util

WEB_DIRECTORY = "./web"

if importlib.util.find_spec("comfy") is not None:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:  # not inside ComfyUI
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
