"""Write the nodes' help pages, web/docs/<node id>.md, from the nodes' own schemas (description and
every input's and output's tooltip), in the form the frontend's node help panel fetches:
``/extensions/<pack>/docs/<node id>.md`` (it tries ``docs/<node id>/<locale>.md`` first).

    python scripts/node_docs.py            # (re)write the pages
    python scripts/node_docs.py --check    # exit 1 when a page is out of date

Runs against the host ComfyUI (NOISE_SEARCH_HOST / scripts/host.py's COMFY) without a server.
"""
import importlib
import os
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "web" / "docs"
EXTRA = {
    "NoiseSearchSampler": "Start here: connect a VAE and a verifier (e.g. Verifier: Colour target needs no weights), "
                          "leave `strategy` empty for best-of-N over `candidates` seeds. The search costs about "
                          "one KSampler run per candidate trajectory.",
    "NoiseSearchReplay": "Link the search's `report` output (or a file written by Save Search Report) and the same "
                         "model, prompts and latent size: the output is the search's `best_latent`, bit for bit "
                         "on CPU, without a verifier.",
}


def load_nodes():
    sys.path.insert(0, str(ROOT))
    from scripts.host import COMFY
    sys.path.append(str(COMFY))
    sys.path.remove(str(ROOT))
    sys.path.append(str(ROOT))  # after ComfyUI: its own top-level "nodes" module must win
    import comfy.cli_args
    comfy.cli_args.args.cpu = True
    import folder_paths
    folder_paths.models_dir = os.path.join(tempfile.mkdtemp(), "models")  # lists no local weights
    pkg = types.ModuleType("nspack")
    pkg.__path__ = [str(ROOT)]
    sys.modules["nspack"] = pkg
    return importlib.import_module("nspack.nodes").NODES


def _cell(text):
    return " ".join(str(text or "").split())


def page(schema) -> str:
    lines = [f"# {schema.display_name}", "", f"`{schema.node_id}` · category `{schema.category}`", "",
             schema.description, ""]
    if schema.node_id in EXTRA:
        lines += [EXTRA[schema.node_id], ""]
    if schema.inputs:
        lines += ["## Inputs", ""]
        for i in schema.inputs:
            opt = ", optional" if i.optional else ""
            lines.append(f"- `{i.id}` ({i.get_io_type()}{opt}): {_cell(i.tooltip)}")
        lines.append("")
    lines += ["## Outputs", ""]
    for o in schema.outputs:
        lines.append(f"- `{o.display_name or o.id}` ({o.get_io_type()}): {_cell(o.tooltip)}")
    lines += ["", "More: the pack's README (Nodes) and docs/verifiers.md.", ""]
    return "\n".join(lines)


def pages():
    return {f"{n.GET_SCHEMA().node_id}.md": page(n.GET_SCHEMA()) for n in load_nodes()}


def main(argv):
    want = pages()
    if "--check" in argv:
        stale = [k for k, v in want.items() if not (DOCS / k).exists() or (DOCS / k).read_text() != v]
        extra = sorted(p.name for p in DOCS.glob("*.md") if p.name not in want)
        if stale or extra:
            print(f"out of date: {stale}; not a node: {extra}. Run python scripts/node_docs.py")
            return 1
        print(f"OK: {len(want)} pages")
        return 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for k, v in want.items():
        (DOCS / k).write_text(v)
    print(f"wrote {len(want)} pages to {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
