"""Write example_workflows/: each workflow's API-format file (``NAME.api.json``, defined below in
code) and its UI-format twin (``NAME.json``, what the frontend saves and loads by drag and drop).

The UI files are made by the real frontend: a ComfyUI server with this pack is started
(scripts/host.py), headless Chromium opens it, ``app.loadApiJson(api)`` loads each API workflow, a
Note is added, and ``app.graph.serialize()`` is saved. So they always match the installed nodes.

    .host/venv/bin/python scripts/make_ui_workflows.py            # both formats
    .host/venv/bin/python scripts/make_ui_workflows.py --api-only # only NAME.api.json

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``; or $CHROMIUM) and
Playwright for Python in the host venv; never downloads a browser. The browser helpers here
(:func:`launch_browser`, :func:`open_comfy`) are shared with tests/browser/.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Tuple

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EXAMPLES = REPO / "example_workflows"
CKPT = "tiny_sd15.safetensors"  # users pick their own checkpoint in the loader
CLIP = "openai/clip-vit-large-patch14"
IMAGE_REWARD = "THUDM/ImageReward"
AESTHETIC_HEAD = "sac+logos+ava1-l14-linearMSE.pth"
VLM = "Qwen/Qwen2.5-VL-3B-Instruct"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-quic", "--disable-sync"]
PROMPT = "a photo of a red apple on a wooden table"
NEGATIVE = "blurry, low quality"


# -- API-format workflows -----------------------------------------------------------------------
def _node(class_type: str, title: str, **inputs) -> Dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


SHARED = "30"  # the String node holding the prompt: typed once, linked to the encoder and the verifiers
P = [SHARED, 0]


def _sd_base(batch: int = 1, width: int = 512, height: int = 512) -> Dict[str, Any]:
    """Checkpoint, the prompt in one stock String node (PrimitiveStringMultiline) feeding the
    positive CLIPTextEncode (and, in each workflow, the verifiers), negative prompt, empty latent."""
    return {
        "1": _node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name=CKPT),
        SHARED: _node("PrimitiveStringMultiline", "Prompt (typed once, used by the encoder and the verifiers)",
                      value=PROMPT),
        "2": _node("CLIPTextEncode", "Positive prompt", text=P, clip=["1", 1]),
        "3": _node("CLIPTextEncode", "Negative prompt", text=NEGATIVE, clip=["1", 1]),
        "4": _node("EmptyLatentImage", "Empty Latent Image", width=width, height=height, batch_size=batch),
    }


def _search(verifier: str, strategy: str = None, seed: int = 42, steps: int = 20, candidates: int = 8,
            cfg: float = 7.0) -> Dict[str, Any]:
    inputs = dict(model=["1", 0], seed=seed, steps=steps, cfg=cfg, sampler_name="euler", scheduler="normal",
                  positive=["2", 0], negative=["3", 0], latent_image=["4", 0], denoise=1.0, vae=["1", 2],
                  verifier=[verifier, 0], candidates=candidates, max_batch=4, budget_nfe=0, rerender_winner=False)
    if strategy:
        inputs["strategy"] = [strategy, 0]
    return _node("NoiseSearchSampler", "Noise Search Sampler", **inputs)


def _outputs(wf: Dict[str, Any], search: str, prefix: str) -> Dict[str, Any]:
    wf["20"] = _node("VAEDecode", "Decode the winner", samples=[search, 0], vae=["1", 2])
    wf["21"] = _node("SaveImage", "Winner", images=["20", 0], filename_prefix=f"noise_search/{prefix}")
    return wf


def best_of_n_color():
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchColorTarget", "Verifier: Color Target", color="#c03020")
    wf["10"] = _search("5", candidates=8)
    return _outputs(wf, "10", "color_target")


def best_of_n_clipscore():
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=P)
    wf["10"] = _search("5", candidates=8)
    return _outputs(wf, "10", "best_of_n_clipscore")


def best_of_n_vlm_judge():
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchVLMJudge", "Verifier: VLM judge", model=VLM, mode="overall", prompt=P)
    wf["10"] = _search("5", candidates=8)
    return _outputs(wf, "10", "best_of_n_vlm_judge")


def zero_order_image_reward():
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchImageReward", "Verifier: ImageReward", model=IMAGE_REWARD, prompt=P)
    wf["6"] = _node("NoiseSearchZeroOrder", "Strategy: Zero-Order", n_neighbors=4, lam=0.5, iterations=4)
    wf["10"] = _search("5", strategy="6")
    return _outputs(wf, "10", "zero_order_image_reward")


def search_over_paths_ensemble():
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=P)
    wf["6"] = _node("NoiseSearchImageReward", "Verifier: ImageReward", model=IMAGE_REWARD, prompt=P)
    wf["7"] = _node("NoiseSearchAesthetic", "Verifier: Aesthetic", head=AESTHETIC_HEAD, clip_model=CLIP)
    wf["8"] = _node("NoiseSearchEnsemble", "Verifier ensemble (rank mean)", verifier_1=["5", 0], verifier_2=["6", 0],
                    weight_1=1.0, weight_2=1.0, verifier_3=["7", 0], weight_3=1.0, weight_4=1.0)
    wf["9"] = _node("NoiseSearchPaths", "Strategy: Search over Paths", n=2, m=2, start=8, delta_f=2, delta_b=4)
    wf["10"] = _search("8", strategy="9")
    return _outputs(wf, "10", "paths_ensemble")


def particles_clipscore():
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=PROMPT)
    wf["6"] = _node("NoiseSearchParticles", "Strategy: Particles (SMC)", particles=4, resample_every=5,
                    potential="difference", lam=1.0, ess_threshold=0.5, renoise_steps=1, resample_sigmas="",
                    replay="")
    wf["10"] = _search("5", strategy="6")
    wf["10"]["inputs"]["sampler_name"] = "euler_ancestral"
    return _outputs(wf, "10", "particles_clipscore")


def score_images_aesthetic():
    wf = _sd_base(batch=4)
    wf["5"] = _node("KSampler", "KSampler (a batch of 4)", model=["1", 0], seed=42, steps=20, cfg=7.0,
                    sampler_name="euler", scheduler="normal", positive=["2", 0], negative=["3", 0],
                    latent_image=["4", 0], denoise=1.0)
    wf["6"] = _node("VAEDecode", "VAE Decode", samples=["5", 0], vae=["1", 2])
    wf["7"] = _node("NoiseSearchAesthetic", "Verifier: Aesthetic", head=AESTHETIC_HEAD, clip_model=CLIP)
    wf["8"] = _node("NoiseSearchScoreImages", "Score Images (post hoc)", images=["6", 0], verifier=["7", 0],
                    prompt=P)
    wf["9"] = _node("PreviewImage", "Sorted, best first", images=["8", 0])
    wf["11"] = _node("SaveImage", "Best image", images=["8", 1], filename_prefix="noise_search/score_images")
    return wf


def flow_advanced_flux_style():
    """Rectified flow through the advanced node: ModelSamplingSD3 patches the model to flow
    matching; FluxGuidance + BasicGuider is the FLUX-dev guidance set-up (the guidance value is
    ignored by models without a guidance input); RandomNoise's seed is the search's base seed."""
    wf = _sd_base()
    del wf["3"]  # BasicGuider: no negative prompt
    wf["5"] = _node("ModelSamplingSD3", "ModelSamplingSD3 (rectified flow)", model=["1", 0], shift=3.0)
    wf["6"] = _node("FluxGuidance", "FluxGuidance", conditioning=["2", 0], guidance=3.5)
    wf["7"] = _node("BasicGuider", "BasicGuider", model=["5", 0], conditioning=["6", 0])
    wf["8"] = _node("KSamplerSelect", "KSamplerSelect", sampler_name="euler")
    wf["9"] = _node("BasicScheduler", "BasicScheduler", model=["5", 0], scheduler="simple", steps=20, denoise=1.0)
    wf["11"] = _node("RandomNoise", "RandomNoise (base seed)", noise_seed=42)
    wf["12"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=P)
    wf["10"] = _node("NoiseSearchSamplerAdvanced", "Noise Search Sampler (Advanced)", noise=["11", 0], guider=["7", 0],
                     sampler=["8", 0], sigmas=["9", 0], latent_image=["4", 0], vae=["1", 2], verifier=["12", 0],
                     candidates=8, max_batch=4, budget_nfe=0, rerender_winner=False)
    return _outputs(wf, "10", "flow_flux_style")


WORKFLOWS: Dict[str, Tuple[Any, str]] = {
    "best_of_n_color": (best_of_n_color,
        "Best-of-N, weight-free: 8 seeds (seed, seed+1, ...), each scored by how close its mean colour is to "
        "the target colour. No verifier weights needed: a quick way to try the search.\n\n"
        "The panel on the search node plots each candidate's score against the NFEs spent (gold: best so far) "
        "and, after the run, shows every candidate with its score and seed. 'Use seed' copies the winning "
        "(or clicked) seed into the seed widget; a plain KSampler with that seed reproduces the winner."),
    "best_of_n_clipscore": (best_of_n_clipscore,
        "Best-of-N with CLIPScore: 8 seeds, scored by CLIP image-text similarity to the prompt.\n\n"
        f"Weights: '{CLIP}' (1.7 GB) download on first use into models/verifiers/{CLIP.split('/')[-1]}/ "
        f"(or `hf download {CLIP}`; switch the verifier's 'download' off to never fetch). The prompt is typed "
        "once, in the Prompt node, which feeds both the text encoder and the verifier. Load your own "
        "checkpoint in Load Checkpoint."),
    "best_of_n_vlm_judge": (best_of_n_vlm_judge,
        "Best-of-N judged by a vision-language model: 8 seeds, each graded 0-10 by a local chat VLM against the "
        "paper's rubric; the score is the expected value of the model's next-token probabilities over the "
        "digits (one forward pass, deterministic). Modes: overall, the mean of the five axes, one axis, or "
        "VQAScore (P(Yes) for 'Does this image show {prompt}?'); the rubric and question are editable.\n\n"
        f"Weights: '{VLM}' (7.5 GB) download on first use into models/verifiers/{VLM.split('/')[-1]}/; any "
        "Qwen2.5-VL or Qwen3-VL instruct model works (model_override)."),
    "zero_order_image_reward": (zero_order_image_reward,
        "Zero-order search with ImageReward: a pivot noise and 4 neighbours at distance lam per iteration; the "
        "best neighbour becomes the pivot when it wins. 4 iterations = 16 candidates.\n\n"
        f"Weights: '{IMAGE_REWARD}' (ImageReward.pt + med_config.json) and the bert-base-uncased tokenizer, "
        "from the Hugging Face cache or under models/verifiers. The winner is a noise, not a seed: use the "
        "best_noise output with SamplerCustomAdvanced to reproduce it."),
    "search_over_paths_ensemble": (search_over_paths_ensemble,
        "Search over paths with a verifier ensemble (CLIPScore + ImageReward + Aesthetic): N=2 paths are "
        "denoised to step 8, each spawns M=2 copies that are re-noised 2 steps and denoised 4, scored on "
        "their x0 prediction; the best N go on to the end.\n\n"
        "Weights: see the CLIPScore, ImageReward and Aesthetic examples."),
    "particles_clipscore": (particles_clipscore,
        "Particle search (sequential Monte Carlo / Feynman-Kac steering, Singhal et al. 2025) with CLIPScore: "
        "4 particles are denoised together; every 5 steps each particle's x0 prediction is scored, weighted by "
        "exp(lam * change in score) and, when the effective sample size falls below half, resampled. Copies "
        "diverge through their own ancestral noise (euler_ancestral). The best finished particle wins.\n\n"
        "The report's recipe holds the resampling events (ESS, ancestors) and every particle's lineage; paste "
        "the report into the strategy's replay input to rebuild the winner bit for bit."),
    "score_images_aesthetic": (score_images_aesthetic,
        "Post-hoc scoring: any workflow's images (here a KSampler batch of 4) ranked by a verifier "
        f"(LAION aesthetic head '{AESTHETIC_HEAD}' on CLIP '{CLIP}'). Score Images returns them sorted, "
        "the best one, the scores as JSON and the best score."),
    "flow_advanced_flux_style": (flow_advanced_flux_style,
        "Rectified-flow (FLUX-style) search with the advanced node: ModelSamplingSD3 turns the model into a "
        "flow model, BasicGuider + FluxGuidance guide it, KSamplerSelect/BasicScheduler give the sampler and "
        "sigmas, and RandomNoise's seed is the base seed of the 8 candidates.\n\n"
        "For FLUX itself: load it with UNETLoader + DualCLIPLoader + VAELoader and drop ModelSamplingSD3 "
        "(FLUX already is a flow model)."),
}


def write_api(names=None):
    EXAMPLES.mkdir(exist_ok=True)
    for name, (build, _) in WORKFLOWS.items():
        if names and name not in names:
            continue
        (EXAMPLES / f"{name}.api.json").write_text(json.dumps(build(), indent=2) + "\n")


# -- browser helpers (shared with tests/browser) ------------------------------------------------
def launch_browser(playwright):
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set $CHROMIUM)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def prepare_frontend(host):
    """Settings a fresh user needs so that nothing covers the graph (tutorial/templates dialog)."""
    host.post("/api/settings/Comfy.TutorialCompleted", True)
    host.post("/api/settings/Comfy.Minimap.Visible", False)  # cosmetic: screenshots without the minimap


def open_comfy(page, host, timeout_ms: int = 120_000):
    """Open the ComfyUI page and wait until the app has its graph and our extension is loaded."""
    prepare_frontend(host)
    # cosmetic: no 'Introducing Nodes 2.0' banner over the canvas (the frontend keeps this in localStorage)
    page.add_init_script("try { localStorage.setItem('vueNodesBannerDismissed', 'true') } catch (e) {}")
    page.goto(host.url + "/", wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_function(
        "() => window.app && window.app.graph && window.LiteGraph && window.LiteGraph.registered_node_types"
        " && window.LiteGraph.registered_node_types['NoiseSearchSampler']"
        " && window.app.extensionManager !== undefined"
        " && (window.comfyAPI?.app?.app?.extensions ?? []).some(e => e.name === 'comfyui-noise-search.ui')",
        timeout=timeout_ms)


def missing_node_types_js() -> str:
    """JS returning the types of nodes in app.graph that the frontend has not registered."""
    return ("() => app.graph.nodes.filter(n => !LiteGraph.registered_node_types[n.type]"
            " || n.has_errors || n.constructor?.name === 'LGraphNode' && !n.comfyClass && n.type !== 'Note'"
            " && n.type !== 'MarkdownNote').map(n => n.type)")


SERIALIZE_JS = """async ([api, note]) => {
  const unknown = Object.values(api).map(n => n.class_type).filter(t => !LiteGraph.registered_node_types[t]);
  if (unknown.length) return {graph: null, missing: unknown};
  app.loadApiJson(api, 'example');
  await new Promise(r => setTimeout(r, 50));
  // seeds stay as written (reproducible examples): control_after_generate = fixed
  for (const n of app.graph.nodes)
    for (const w of n.widgets ?? [])
      if (w.name === 'control_after_generate') w.value = 'fixed';
  app.graph.arrange(60);
  let minX = Infinity, maxY = -Infinity, minY = Infinity;
  for (const n of app.graph.nodes) {
    minX = Math.min(minX, n.pos[0]); minY = Math.min(minY, n.pos[1]);
    maxY = Math.max(maxY, n.pos[1] + n.size[1]);
  }
  const noteNode = LiteGraph.createNode('Note');
  noteNode.title = 'About this workflow';
  noteNode.widgets[0].value = note;
  noteNode.size = [420, 170];
  noteNode.pos = [minX, maxY + 60];
  app.graph.add(noteNode);
  // through JSON: drops undefined members, as the frontend's own save does
  const g = JSON.parse(JSON.stringify(app.graph.serialize()));
  const missing = app.graph.nodes.filter(n => !LiteGraph.registered_node_types[n.type]).map(n => n.type);
  return {graph: g, missing};
}"""


@contextlib.contextmanager
def comfy_page(host, viewport=(1600, 1000)):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            open_comfy(page, host)
            yield page
        finally:
            browser.close()


def write_ui(host, names=None):
    with comfy_page(host) as page:
        for name, (build, note) in WORKFLOWS.items():
            if names and name not in names:
                continue
            api = json.loads((EXAMPLES / f"{name}.api.json").read_text())
            res = page.evaluate(SERIALIZE_JS, [api, note])
            if res["missing"]:
                raise RuntimeError(f"{name}: node types unknown to the frontend: {res['missing']}")
            (EXAMPLES / f"{name}.json").write_text(json.dumps(res["graph"], indent=2) + "\n")
            print(f"wrote {name}.json and {name}.api.json")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-only", action="store_true")
    ap.add_argument("names", nargs="*", help="only these workflows (default: all)")
    a = ap.parse_args(argv)
    write_api(a.names)
    if a.api_only:
        return
    from scripts.host import ComfyHost, prepare_base_dir
    with tempfile.TemporaryDirectory(prefix="ns_make_ui_") as tmp:
        base = prepare_base_dir(Path(tmp))
        with ComfyHost.start(base) as host:
            write_ui(host, a.names)


if __name__ == "__main__":
    main()
