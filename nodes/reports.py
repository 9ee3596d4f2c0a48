"""The scoring / reports family: Score Images (post-hoc best-of-N), the replay nodes that rebuild a
search's winner from its report alone (search/replay.py), and Save Search Report, which writes a
report to the output folder next to the images."""
from __future__ import annotations

import json
import os
from typing import Any, Dict

import torch

import comfy.samplers
import comfy.utils
import folder_paths
from comfy_api.latest import io

from ..search import replay
from ..search.noise import noise_source
from ..verifiers import Ensemble
from .comfy_denoiser import ComfyDenoiser
from .schema import CATEGORY, VERIFIER_CATEGORY, Verifier, out, schema
from .scoring import finite_json
from .search_run import check_latent, check_sigmas, host_noise
from .verifier_runtime import BoundVerifier, score_images

REPORT_TOOLTIP = ("The report of a Noise Search Sampler (its `report` output, linked or pasted), or the path of a "
                  "report saved by Save Search Report (absolute, or relative to ComfyUI's output folder).")
REPLAY_ALIASES = ["replay", "reproduce", "rebuild winner", "recipe", "noise search report"]


class NoiseSearchScoreImages(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchScoreImages", display_name="Score Images (best-of-N)", category=VERIFIER_CATEGORY,
            description="Scores any IMAGE batch with a verifier and sorts it, best first: post-hoc best-of-N for any "
                        "workflow (e.g. a KSampler with batch_size N). Costs one verifier call per image, no NFE.",
            search_aliases=["best of n", "rank images", "sort images", "pick best image", "score"],
            inputs=[
                io.Image.Input("images", tooltip="The images to score (a batch)."),
                Verifier.Input("verifier", tooltip="Any verifier node; its score decides the order."),
                io.Image.Input("mid_images", optional=True,
                               tooltip="For self-supervised verifiers: the x0 predictions part-way, one per image."),
                io.String.Input("prompt", force_input=True, optional=True,
                                tooltip="Optional: link the prompt here to score against it instead of the "
                                        "verifier's own prompt (ensemble members keep theirs)."),
            ],
            outputs=[
                out(io.Image, "sorted_images", "The batch sorted by score, best first."),
                out(io.Image, "best_image", "The best-scoring image."),
                out(io.String, "scores_json", "JSON: every image's score (in input order), the order and the best "
                                              "index; non-finite scores are null and rank last."),
                out(io.Float, "best_score", "The best score, in the verifier's units (see its node)."),
            ],
        )

    @classmethod
    def execute(cls, images, verifier, mid_images=None, prompt=None):
        if not isinstance(verifier, BoundVerifier):
            raise TypeError(f"NoiseSearchScoreImages: input 'verifier' is not an NS_VERIFIER ({type(verifier).__name__})")
        if prompt is not None and not isinstance(verifier.verifier, Ensemble):
            verifier = BoundVerifier(verifier.verifier, str(prompt))
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
            raise ValueError("NoiseSearchScoreImages: input 'images' must be a non-empty IMAGE batch")
        if verifier.verifier.needs_mid_x0 and mid_images is None:
            raise ValueError(f"NoiseSearchScoreImages: input 'mid_images' is required by {verifier.name!r}")
        scores = score_images(verifier, images, mid_images).float()
        finite = torch.isfinite(scores)
        if not bool(finite.any()):
            raise ValueError(f"NoiseSearchScoreImages: verifier {verifier.name!r} gave no finite score for any of the "
                             f"{images.shape[0]} images (NaN images? check the input 'images')")
        # non-finite scores rank lowest; best first, stable on ties
        key = [float(s) if bool(f) else -float("inf") for s, f in zip(scores, finite)]
        order = sorted(range(len(key)), key=lambda i: (-key[i], i))
        idx = torch.tensor(order, dtype=torch.long)
        detail = {"verifier": verifier.describe(), "scores": [float(s) for s in scores], "order": order,
                  "best_index": order[0]}
        if isinstance(verifier.verifier, Ensemble):
            detail["members"] = {k: [float(x) for x in v] for k, v in verifier.verifier.last_member_scores.items()}
        detail = finite_json(detail)  # JSON has no NaN: non-finite scores become null
        best = images[order[0]:order[0] + 1]
        return io.NodeOutput(images[idx.to(images.device)], best, json.dumps(detail, indent=1, default=str),
                             key[order[0]], ui={"noise_search_scores": [detail]})


# -- replay ---------------------------------------------------------------------------------------
def read_report(text: str) -> Dict[str, Any]:
    """A report given as JSON text, or as the path of a saved report file."""
    text = str(text or "").strip()
    if not text:
        raise ValueError("report: empty; link the search node's report output, paste it, or give the path of a "
                         "saved report")
    if not text.startswith("{"):
        path = text if os.path.isabs(text) else os.path.join(folder_paths.get_output_directory(), text)
        if not os.path.isfile(path):
            raise ValueError(f"report: {text!r} is neither JSON nor a file (looked for {path}); give the report "
                             "text or the path Save Search Report wrote")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        report = json.loads(text)
    except ValueError as e:
        raise ValueError(f"report: not JSON ({e}); give the search node's report output as it is") from None
    replay.recipe_of(report)  # names the problem when it is not a search report
    return report


def check_settings(report: Dict[str, Any], given: Dict[str, Any]) -> None:
    """The replay runs what the search ran: refuse, naming the input, a setting the report says was
    different (a report without settings is taken as it is)."""
    settings = report.get("settings") or {}
    for name, value in given.items():
        if name in settings and settings[name] is not None and settings[name] != value:
            raise ValueError(f"{name}: the report's search used {settings[name]!r}, this replay {value!r}; give the "
                             "replay the same model set-up as the search, or the winner cannot be rebuilt")


def replay_latent(guider, sampler, sigmas, latent, report) -> io.NodeOutput:
    samples = check_latent(guider.model_patcher, latent)
    den = ComfyDenoiser(guider, sampler, sigmas, samples, max_batch=1)
    check_settings(report, {"sampler": den.sampler_name, "steps": len(den.sigmas) - 1})
    pbar = comfy.utils.ProgressBar(max(1, den.cost(0, len(den.sigmas) - 1)))
    den.on_step = lambda d, x0: pbar.update_absolute(d.nfe)
    with noise_source(host_noise(samples, latent.get("batch_index"))):
        x = replay.winner(den, report)
    if not torch.isfinite(x).all():
        raise RuntimeError("replay: the rebuilt latent holds NaN or inf values; check the model and its settings")
    return io.NodeOutput({"samples": x})


def _replay_schema(node_id, display_name, description, inputs):
    return schema(node_id=node_id, display_name=display_name, category=CATEGORY, description=description,
                  search_aliases=REPLAY_ALIASES, inputs=[*inputs, io.String.Input("report", multiline=True,
                                                                                  default="", tooltip=REPORT_TOOLTIP)],
                  outputs=[out(io.Latent, "best_latent", "The search's winning latent, rebuilt bit for bit "
                                                         "(finished sample, σ = 0).")])


class NoiseSearchReplay(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return _replay_schema(
            "NoiseSearchReplay", "Noise Search Replay",
            "Rebuilds the winner of a Noise Search Sampler from its report alone, for every strategy (random: the "
            "seed; zero-order, paths, particles: the recipe): no verifier, no search, about one trajectory of NFE. "
            "Steps, cfg, sampler, scheduler and denoise come from the report; give it the same model, prompts and "
            "latent size as the search.",
            [io.Model.Input("model", tooltip="The model the search ran."),
             io.Conditioning.Input("positive", tooltip="The search's positive conditioning."),
             io.Conditioning.Input("negative", tooltip="The search's negative conditioning."),
             io.Latent.Input("latent_image", tooltip="The search's start latent (same size, batch of 1).")])

    @classmethod
    def execute(cls, model, positive, negative, latent_image, report):
        rep = read_report(report)
        s = rep.get("settings") or {}
        missing = [k for k in ("steps", "cfg", "sampler", "scheduler", "denoise") if s.get(k) is None]
        if missing:
            raise ValueError(f"report: has no {', '.join(missing)} (a report of Noise Search Sampler (Advanced), "
                             "or of an earlier release); use Noise Search Replay (Advanced) with the search's guider, "
                             "sampler and sigmas")
        if s["sampler"] not in comfy.samplers.KSampler.SAMPLERS or s["scheduler"] not in comfy.samplers.KSampler.SCHEDULERS:
            raise ValueError(f"report: sampler {s['sampler']!r} / scheduler {s['scheduler']!r} are not on this "
                             "ComfyUI; use Noise Search Replay (Advanced)")
        ks = comfy.samplers.KSampler(model, steps=int(s["steps"]), device=model.load_device, sampler=s["sampler"],
                                     scheduler=s["scheduler"], denoise=float(s["denoise"]),
                                     model_options=model.model_options)
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(float(s["cfg"]))
        return replay_latent(guider, comfy.samplers.sampler_object(s["sampler"]), ks.sigmas, latent_image, rep)


class NoiseSearchReplayAdvanced(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return _replay_schema(
            "NoiseSearchReplayAdvanced", "Noise Search Replay (Advanced)",
            "Rebuilds the winner of a search from its report alone over GUIDER / SAMPLER / SIGMAS (for reports of "
            "Noise Search Sampler (Advanced)): give it the search's guider, sampler and sigmas. No verifier, no "
            "search, about one trajectory of NFE.",
            [io.Guider.Input("guider", tooltip="The guider the search ran."),
             io.Sampler.Input("sampler", tooltip="The search's sampler (checked against the report)."),
             io.Sigmas.Input("sigmas", tooltip="The search's σ schedule, ending at σ = 0 (its steps are checked "
                                               "against the report)."),
             io.Latent.Input("latent_image", tooltip="The search's start latent (same size, batch of 1).")])

    @classmethod
    def execute(cls, guider, sampler, sigmas, latent_image, report):
        check_sigmas(sigmas)
        return replay_latent(guider, sampler, sigmas, latent_image, read_report(report))


class NoiseSearchSaveReport(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchSaveReport", display_name="Save Search Report", category=CATEGORY,
            description="Writes a search report as a JSON file into ComfyUI's output folder; with the same "
                        "filename_prefix as Save Image it lands next to the image. Sharing the file is enough to "
                        "rebuild the winner (Noise Search Replay).",
            search_aliases=["save report", "save json", "save text", "export report"],
            inputs=[io.String.Input("report", force_input=True, tooltip="The report output of a search node."),
                    io.String.Input("filename_prefix", default="noise_search/report",
                                    tooltip="File name prefix in the output folder (as Save Image's); a counter "
                                            "and .json are added.")],
            outputs=[out(io.String, "path", "The saved file's path relative to the output folder (Noise Search "
                                            "Replay takes it as its report).")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, report, filename_prefix="noise_search/report"):
        data = json.loads(report)  # a report is JSON: refuse anything else before writing
        replay.recipe_of(data)
        out_dir = folder_paths.get_output_directory()
        full, name, counter, sub, _ = folder_paths.get_save_image_path(filename_prefix, out_dir)
        fn = f"{name}_{counter:05}_.json"
        with open(os.path.join(full, fn), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        rel = os.path.join(sub, fn) if sub else fn
        return io.NodeOutput(rel, ui={"noise_search_report_files": [{"filename": fn, "subfolder": sub,
                                                                    "type": "output"}]})


NODES = [NoiseSearchScoreImages, NoiseSearchReplay, NoiseSearchReplayAdvanced, NoiseSearchSaveReport]
