"""comfyui-noise-search: inference-time search over diffusion noise for ComfyUI.

Loaded by ComfyUI as a custom node pack: V3 nodes through ``comfy_entrypoint`` (nodes/__init__.py)
and the web extension folder (``WEB_DIRECTORY``: the widgets' JS and the nodes' help pages under
web/docs/). The host takes V3 nodes only from a module without ``NODE_CLASS_MAPPINGS``, so there is
none here. Imported outside ComfyUI (test tools walking the package tree, ``import search`` from the
repo root), there is no host to register nodes with, so nothing is exported; any other import error
in the pack is raised as usual (and the host tests check that every node registers).
"""
import importlib.util

WEB_DIRECTORY = "./web"

if importlib.util.find_spec("comfy_api") is not None:
    from .nodes import comfy_entrypoint
    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
else:  # not inside ComfyUI
    __all__ = ["WEB_DIRECTORY"]
