"""ComfyUI glue: the only package here that imports comfy."""
from .search_nodes import NODE_CLASS_MAPPINGS as _SEARCH, NODE_DISPLAY_NAME_MAPPINGS as _SEARCH_NAMES
from .particles_node import NODE_CLASS_MAPPINGS as _PART, NODE_DISPLAY_NAME_MAPPINGS as _PART_NAMES
from .verifier_nodes import NODE_CLASS_MAPPINGS as _VERIFY, NODE_DISPLAY_NAME_MAPPINGS as _VERIFY_NAMES

NODE_CLASS_MAPPINGS = {**_SEARCH, **_PART, **_VERIFY}
NODE_DISPLAY_NAME_MAPPINGS = {**_SEARCH_NAMES, **_PART_NAMES, **_VERIFY_NAMES}

for _id in NODE_CLASS_MAPPINGS:
    assert _id.startswith("NoiseSearch"), f"node id {_id} must start with NoiseSearch (ids are global)"
