"""Write the example workflows: each workflow's API-format file (``api_workflows/NAME.api.json``,
defined below in code), its UI-format twin (``example_workflows/NAME.json``, what the frontend saves,
loads by drag and drop and lists in its Template Browser) and the template's thumbnail
(``example_workflows/NAME.jpg``).

Each workflow first runs through a real ComfyUI server (scripts/host.py) on the tiny test models
(scripts/examples.py puts them in place of the real ones, at 64 px): the run's NFE go into the
workflow's note and its final image, scaled up, is the thumbnail. Then headless Chromium opens the
server, ``app.loadApiJson(api)`` loads the workflow, the loaders get ``properties.models`` (the real
models' download URL and folder, which the frontend offers when they are missing), a Note is added,
and ``app.graph.serialize()`` is saved. So the files always match the installed nodes.

    .host/venv/bin/python scripts/make_ui_workflows.py            # all three
    .host/venv/bin/python scripts/make_ui_workflows.py --api-only # only NAME.api.json

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``; or $CHROMIUM) and
Playwright for Python in the host venv; never downloads a browser. The browser helpers here
(:func:`launch_browser`, :func:`open_comfy`) are shared with tests/browser/.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Tuple

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.examples import API_DIR, SD15, SDXL, FLUX1_DEV, UI_DIR, models_of  # noqa: E402

EXAMPLES = UI_DIR
CLIP = "openai/clip-vit-large-patch14"
IMAGE_REWARD = "THUDM/ImageReward"
AESTHETIC_HEAD = "sac+logos+ava1-l14-linearMSE.pth"
VLM = "Qwen/Qwen2.5-VL-3B-Instruct"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-quic", "--disable-sync"]
PROMPT = "a photo of a red apple on a wooden table"
NEGATIVE = "blurry, low quality"
THUMB_PX = 256

#: verifier node -> (what the note calls it, its weights and their size; None: weight-free)
VERIFIER_WEIGHTS = {
    "NoiseSearchColorTarget": ("Color Target", None),
    "NoiseSearchBrightness": ("Brightness", None),
    "NoiseSearchSharpness": ("Sharpness", None),
    "NoiseSearchCLIPScore": ("CLIPScore", f"'{CLIP}' (1.7 GB)"),
    "NoiseSearchImageReward": ("ImageReward", f"'{IMAGE_REWARD}' (ImageReward.pt, 1.8 GB) and the "
                                              "bert-base-uncased tokenizer"),
    "NoiseSearchAesthetic": ("Aesthetic", f"the LAION head '{AESTHETIC_HEAD}' (3.7 MB) on '{CLIP}' (1.7 GB)"),
    "NoiseSearchVLMJudge": ("VLM judge", f"'{VLM}' (7.5 GB)"),
    "NoiseSearchPickScore": ("PickScore", "'yuvalkirstain/PickScore_v1' (3.9 GB)"),
    "NoiseSearchHPS": ("HPSv2.1", "'xswu/HPSv2' HPS_v2.1_compressed.pt (2 GB)"),
    "NoiseSearchClassifier": ("Classifier", "'google/vit-base-patch16-224' (346 MB)"),
    "NoiseSearchSelfSupervised": ("Self-Supervised", "'facebook/dinov2-base' (346 MB)"),
}
#: checkpoint file -> the model family the note names
MODEL_FAMILY = {SD15: "Stable Diffusion 1.5", SDXL: "SDXL 1.0 base", FLUX1_DEV: "FLUX.1 [dev] (fp8 checkpoint)"}


# -- API-format workflows -----------------------------------------------------------------------
def _node(class_type: str, title: str, **inputs) -> Dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


SHARED = "30"  # the String node holding the prompt: typed once, linked to the encoder and the verifiers
P = [SHARED, 0]


def _sd_base(batch: int = 1, width: int = 512, height: int = 512, ckpt: str = SD15) -> Dict[str, Any]:
    """Checkpoint (a real model's file name; the loader carries its download URL), the prompt in one stock String node (PrimitiveStringMultiline) feeding the
    positive CLIPTextEncode (and, in each workflow, the verifiers), negative prompt, empty latent."""
    return {
        "1": _node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name=ckpt),
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
    wf = _sd_base(width=1024, height=1024, ckpt=SDXL)
    wf["5"] = _node("NoiseSearchImageReward", "Verifier: ImageReward", model=IMAGE_REWARD, prompt=P)
    wf["6"] = _node("NoiseSearchZeroOrder", "Strategy: Zero-Order", n_neighbors=4, lam=0.5, iterations=4)
    wf["10"] = _search("5", strategy="6")
    return _outputs(wf, "10", "zero_order_image_reward")


def search_over_paths_ensemble():
    wf = _sd_base(width=1024, height=1024, ckpt=SDXL)
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
    wf["5"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=P)
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
    """FLUX.1 [dev] through the advanced node: FluxGuidance + BasicGuider is FLUX-dev's guidance
    set-up; RandomNoise's seed is the search's base seed. (The tests put the tiny SD1.5-layout model
    behind ModelSamplingSD3 in FLUX's place: a rectified-flow model too.)"""
    wf = _sd_base(width=1024, height=1024, ckpt=FLUX1_DEV)
    del wf["3"]  # BasicGuider: no negative prompt
    wf["4"] = _node("EmptySD3LatentImage", "Empty Latent Image (16 channels)", width=1024, height=1024,
                    batch_size=1)
    wf["6"] = _node("FluxGuidance", "FluxGuidance", conditioning=["2", 0], guidance=3.5)
    wf["7"] = _node("BasicGuider", "BasicGuider", model=["1", 0], conditioning=["6", 0])
    wf["8"] = _node("KSamplerSelect", "KSamplerSelect", sampler_name="euler")
    wf["9"] = _node("BasicScheduler", "BasicScheduler", model=["1", 0], scheduler="simple", steps=20, denoise=1.0)
    wf["11"] = _node("RandomNoise", "RandomNoise (base seed)", noise_seed=42)
    wf["12"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=P)
    wf["10"] = _node("NoiseSearchSamplerAdvanced", "Noise Search Sampler (Advanced)", noise=["11", 0], guider=["7", 0],
                     sampler=["8", 0], sigmas=["9", 0], latent_image=["4", 0], vae=["1", 2], verifier=["12", 0],
                     candidates=8, max_batch=4, budget_nfe=0, rerender_winner=False)
    return _outputs(wf, "10", "flow_flux_style")


def search_then_hires():
    """Search cheaply at 512 px, then take the winner to 768 px: the winning latent is upscaled 1.5x
    and refined by a second KSampler at denoise 0.5 (the stock two-pass "hires fix")."""
    wf = _sd_base()
    wf["5"] = _node("NoiseSearchCLIPScore", "Verifier: CLIPScore", model=CLIP, prompt=P)
    wf["10"] = _search("5", candidates=4)
    wf["12"] = _node("LatentUpscaleBy", "Upscale the winner 1.5x", samples=["10", 0], upscale_method="nearest-exact",
                     scale_by=1.5)
    wf["13"] = _node("KSampler", "High-resolution pass (denoise 0.5)", model=["1", 0], seed=42, steps=20, cfg=7.0,
                     sampler_name="euler", scheduler="normal", positive=["2", 0], negative=["3", 0],
                     latent_image=["12", 0], denoise=0.5)
    wf["14"] = _node("VAEDecode", "Decode the high-resolution image", samples=["13", 0], vae=["1", 2])
    wf["15"] = _node("SaveImage", "High-resolution winner", images=["14", 0], filename_prefix="noise_search/hires")
    wf["16"] = _node("VAEDecode", "Decode the low-resolution winner", samples=["10", 0], vae=["1", 2])
    wf["17"] = _node("PreviewImage", "Low-resolution winner", images=["16", 0])
    return wf


#: name -> (builder, what the workflow does; the note adds the model, the verifier weights and the cost)
WORKFLOWS: Dict[str, Tuple[Any, str]] = {
    "best_of_n_color": (best_of_n_color,
        "Best-of-N, weight-free: 8 seeds (seed, seed+1, ...), each scored by how close its mean colour is to "
        "the target colour: a quick way to try the search.\n\n"
        "The panel on the search node plots each candidate's score against the NFEs spent (gold: best so far) "
        "and, after the run, shows every candidate with its score and seed. 'Use seed' copies the winning "
        "(or clicked) seed into the seed widget; a plain KSampler with that seed reproduces the winner."),
    "best_of_n_clipscore": (best_of_n_clipscore,
        "Best-of-N with CLIPScore: 8 seeds, scored by CLIP image-text similarity to the prompt. The prompt is "
        "typed once, in the Prompt node, which feeds both the text encoder and the verifier."),
    "best_of_n_vlm_judge": (best_of_n_vlm_judge,
        "Best-of-N judged by a vision-language model: 8 seeds, each graded 0-10 by a local chat VLM against the "
        "paper's rubric; the score is the expected value of the model's next-token probabilities over the "
        "digits (one forward pass, deterministic). Modes: overall, the mean of the five axes, one axis, or "
        "VQAScore (P(Yes) for 'Does this image show {prompt}?'); the rubric and question are editable. Any "
        "Qwen2.5-VL or Qwen3-VL instruct model works (model_override)."),
    "zero_order_image_reward": (zero_order_image_reward,
        "Zero-order search with ImageReward: a pivot noise and 4 neighbours at distance lam per iteration; the "
        "best neighbour becomes the pivot when it wins, else a fresh pivot restarts the search. 4 iterations.\n\n"
        "The winner is a noise, not a seed: use the best_noise output with SamplerCustomAdvanced to reproduce it."),
    "search_over_paths_ensemble": (search_over_paths_ensemble,
        "Search over paths with a verifier ensemble (CLIPScore + ImageReward + Aesthetic, mean rank): N=2 paths "
        "are denoised to step 8, each spawns M=2 copies that are re-noised 2 steps and denoised 4, scored on "
        "their x0 prediction; the best N go on to the end."),
    "particles_clipscore": (particles_clipscore,
        "Particle search (sequential Monte Carlo / Feynman-Kac steering, Singhal et al. 2025) with CLIPScore: "
        "4 particles are denoised together; every 5 steps each particle's x0 prediction is scored, weighted by "
        "exp(lam * change in score) and, when the effective sample size falls below half, resampled. Copies "
        "diverge through their own ancestral noise (euler_ancestral). The best finished particle wins.\n\n"
        "The report's recipe holds the resampling events (ESS, ancestors) and every particle's lineage; paste "
        "the report into the strategy's replay input to rebuild the winner bit for bit."),
    "score_images_aesthetic": (score_images_aesthetic,
        "Post-hoc scoring: any workflow's images (here a KSampler batch of 4) ranked by a verifier that needs "
        "no prompt (the LAION aesthetic predictor). Score Images returns them sorted, the best one, the scores "
        "as JSON and the best score."),
    "flow_advanced_flux_style": (flow_advanced_flux_style,
        "FLUX search with the advanced node: BasicGuider + FluxGuidance guide the model, KSamplerSelect and "
        "BasicScheduler give the sampler and sigmas, and RandomNoise's seed is the base seed of the 8 "
        "candidates. The separate FLUX files work too: UNETLoader (flux1-dev or flux1-schnell) + "
        "DualCLIPLoader (clip_l, t5xxl) + VAELoader (ae) in place of Load Checkpoint; for flux1-schnell use "
        "4 steps."),
    "search_then_hires": (search_then_hires,
        "Search cheaply, then spend on the winner only: best-of-4 with CLIPScore at 512 px, then the winning "
        "latent is upscaled 1.5x (LatentUpscaleBy) and refined by a second KSampler at denoise 0.5 to "
        "768 px. The search runs at (512/768)^2 = 0.44 of the high-resolution cost per step."),
}


def note_for(name: str, api: Dict[str, Any], cost: str = "") -> str:
    """The note of workflow ``name``: what it does, the model it loads, the verifier weights its nodes
    need (or that they need none) and ``cost`` (measured by :func:`measure`)."""
    desc = WORKFLOWS[name][1]
    ckpts = sorted({n["inputs"]["ckpt_name"] for n in api.values() if n["class_type"] == "CheckpointLoaderSimple"})
    lines = [desc, ""]
    lines.append("Model: " + ", ".join(f"{MODEL_FAMILY.get(c, c)} ('{c}' in models/checkpoints; the frontend "
                                       "offers its download when it is missing)" for c in ckpts) +
                 ". Any checkpoint of that family works: pick yours in Load Checkpoint.")
    verifiers = [n["class_type"] for n in api.values() if n["class_type"] in VERIFIER_WEIGHTS]
    weighted = [VERIFIER_WEIGHTS[v] for v in dict.fromkeys(verifiers) if VERIFIER_WEIGHTS[v][1]]
    if not weighted:
        lines.append("Verifier: " + ", ".join(VERIFIER_WEIGHTS[v][0] for v in dict.fromkeys(verifiers)) +
                     ", weight-free: no verifier weights needed.")
    else:
        lines.append("Verifier weights: " + "; ".join(f"{label}: {w}" for label, w in weighted) +
                     ". They download on first use into models/verifiers/ (switch a verifier's 'download' "
                     "off to never fetch; the error then lists the `hf download` command).")
    if cost:
        lines.append(cost)
    return "\n".join(lines)


def write_api(names=None):
    API_DIR.mkdir(exist_ok=True)
    for name, (build, _) in WORKFLOWS.items():
        if names and name not in names:
            continue
        (API_DIR / f"{name}.api.json").write_text(json.dumps(build(), indent=2) + "\n")


def _steps_of(node):
    return node["inputs"].get("steps")


def measure(host, names=None) -> Dict[str, Dict[str, Any]]:
    """Run each API workflow on the tiny test models (scripts/examples.py) through ``host``: its cost
    line for the note (the search's NFE as the run counted them) and its final image as the thumbnail."""
    from PIL import Image
    from scripts.examples import substitute_tiny
    out = {}
    for name in WORKFLOWS:
        if names and name not in names:
            continue
        api = json.loads((API_DIR / f"{name}.api.json").read_text())
        wf = substitute_tiny(api)
        res = host.run(wf, timeout=900)
        parts = []
        for nid, n in api.items():
            if n["class_type"].startswith("NoiseSearchSampler"):
                rep = res[nid]["noise_search"][0]
                steps = _steps_of(n) or next(m["inputs"]["steps"] for m in api.values()
                                             if m["class_type"] == "BasicScheduler")
                nfe = rep["totals"]["nfe"]
                strategy = n["inputs"].get("strategy")
                bound = strategy is not None and api[strategy[0]]["class_type"] == "NoiseSearchZeroOrder"
                if bound:  # restarts depend on the scores: the upper bound, K iterations each paying a new pivot
                    z = api[strategy[0]]["inputs"]
                    nfe = max(nfe, z["iterations"] * (z["n_neighbors"] + 1) * steps)
                calls = nfe // steps if bound else rep["totals"]["verifier_calls"]
                parts.append(f"the search spends {'at most ' if bound else ''}{nfe} NFE (model calls, CFG counted "
                             f"once) = about {nfe / steps:g} KSampler runs of {steps} steps, and "
                             f"{'at most ' if bound else ''}{calls} verifier calls")
        for nid, n in api.items():
            if n["class_type"] == "KSampler":
                batch = 1
                src = api[n["inputs"]["latent_image"][0]]
                if src["class_type"] == "EmptyLatentImage":
                    batch = src["inputs"]["batch_size"]
                what = (f"the KSampler runs {n['inputs']['steps']} steps" +
                        (f" on a batch of {batch} (= {batch} KSampler runs)" if batch > 1 else "") +
                        (f" at {src['inputs']['scale_by']}x the size" if src["class_type"] == "LatentUpscaleBy" else ""))
                parts.append(what)
        for nid, n in api.items():
            if n["class_type"] == "NoiseSearchScoreImages":
                parts.append("Score Images makes one verifier call per image")
        cost = "Cost: " + "; ".join(parts) + "." if parts else ""
        # the thumbnail: the image of the last SaveImage node (the workflow's final output)
        save = [nid for nid, n in api.items() if n["class_type"] == "SaveImage"][-1]
        img = Image.open(io.BytesIO(host.view(res[save]["images"][0]))).convert("RGB")
        out[name] = {"cost": cost, "thumbnail": img.resize((THUMB_PX, THUMB_PX), Image.Resampling.BICUBIC)}
        print(f"ran {name}: {cost}")
    return out





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


SERIALIZE_JS = """async ([api, note, models]) => {
  const unknown = Object.values(api).map(n => n.class_type).filter(t => !LiteGraph.registered_node_types[t]);
  if (unknown.length) return {graph: null, missing: unknown};
  app.loadApiJson(api, 'example');
  await new Promise(r => setTimeout(r, 50));
  // seeds stay as written (reproducible examples): control_after_generate = fixed
  for (const n of app.graph.nodes)
    for (const w of n.widgets ?? [])
      if (w.name === 'control_after_generate') w.value = 'fixed';
  // the real models' download metadata, on the loader that names them (the frontend's missing-models check)
  for (const [id, list] of Object.entries(models)) {
    const n = app.graph.getNodeById(Number(id)) ?? app.graph.getNodeById(id);
    if (n) { n.properties = n.properties ?? {}; n.properties.models = list; }
  }
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


def write_ui(host, measured: Dict[str, Dict[str, Any]], names=None):
    for name in WORKFLOWS:
        if names and name not in names:
            continue
        api = json.loads((API_DIR / f"{name}.api.json").read_text())
        note = note_for(name, api, measured[name]["cost"])
        with comfy_page(host) as page:  # a fresh page per workflow: nothing of the last one carries over
            res = page.evaluate(SERIALIZE_JS, [api, note, models_of(api)])
        if res["missing"]:
            raise RuntimeError(f"{name}: node types unknown to the frontend: {res['missing']}")
        notes = [n["widgets_values"][0] for n in res["graph"]["nodes"] if n["type"] == "Note"]
        if notes != [note]:
            raise RuntimeError(f"{name}: the saved note is not this workflow's: {notes}")
        (UI_DIR / f"{name}.json").write_text(json.dumps(res["graph"], indent=2) + "\n")
        measured[name]["thumbnail"].save(UI_DIR / f"{name}.jpg", quality=85, optimize=True)
        print(f"wrote example_workflows/{name}.json, {name}.jpg and api_workflows/{name}.api.json")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-only", action="store_true")
    ap.add_argument("names", nargs="*", help="only these workflows (default: all)")
    a = ap.parse_args(argv)
    write_api(a.names)
    if a.api_only:
        return
    from scripts.examples import make_tiny_verifiers
    from scripts.host import ComfyHost, prepare_base_dir
    with tempfile.TemporaryDirectory(prefix="ns_make_ui_") as tmp:
        base = prepare_base_dir(Path(tmp))
        make_tiny_verifiers(base / "models" / "verifiers")
        with ComfyHost.start(base) as host:
            measured = measure(host, a.names)
            write_ui(host, measured, a.names)


if __name__ == "__main__":
    main()
