"""The sampler family: the KSampler-style search node, its SamplerCustomAdvanced-style variant, and
Noise Candidates (best-of-N from stock nodes). The search itself is nodes/search_run.py."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..search import RandomSearch
from .schema import CATEGORY, Strategy, Verifier, out, schema, seed_input
from .search_run import CandidateNoise, check_sigmas, run_search

SEARCH_ALIASES = ["best of n", "best-of-n", "seed search", "noise search", "inference-time scaling",
                  "verifier", "reward", "pick best seed"]


def _search_inputs():
    """The inputs both search nodes have after their sampling inputs (names and order as released)."""
    return [
        io.Vae.Input("vae", tooltip="The VAE of this model: the verifier scores decoded images, so every "
                                    "finished candidate is decoded once."),
        Verifier.Input("verifier", tooltip="What makes a candidate good: connect a verifier node "
                                           "(sampling/noise search/verifiers). Higher score wins."),
        io.Int.Input("candidates", default=4, min=1, max=4096,
                     tooltip="Best-of-N when no strategy is connected: N seeds (seed, seed+1, ...), each a full "
                             "trajectory, so the search costs about N KSampler runs (N x steps NFE for a "
                             "one-call-per-step sampler). Ignored when a strategy is connected."),
        io.Int.Input("max_batch", default=4, min=1, max=512,
                     tooltip="Latents per model call (a memory knob, not a quality one): halves by itself on "
                             "out-of-memory. Results are the same for every value on CPU."),
        io.Int.Input("budget_nfe", default=0, min=0, max=10_000_000,
                     tooltip="Hard cap on the search's cost in NFE (denoiser evaluations; a CFG step counts once, "
                             "a Heun step twice). One trajectory costs about steps NFE. 0 = no cap: the "
                             "strategy's own settings decide."),
        io.Boolean.Input("rerender_winner", default=False,
                         tooltip="Re-run the winning seed alone at batch 1, exactly as a plain KSampler would "
                                 "(one extra trajectory). Matters on GPUs, where the batch size can change the "
                                 "last bits of a latent; on CPU the winner is already bit-exact."),
        Strategy.Input("strategy", optional=True,
                       tooltip="Search algorithm (a Search Strategy node: random, zero-order, paths, particles). "
                               "When absent: random search over `candidates` seeds."),
    ]


def _search_outputs():
    return [
        out(io.Latent, "best_latent", "The winning candidate's latent (the finished sample, σ = 0): decode it, "
                                      "or take it to a second pass."),
        out(io.Image, "candidates", "Every finished candidate, decoded (the winner among them).",
            id_="candidate_images"),
        out(io.String, "report", "JSON report: every candidate's seed, score and NFE, the totals, the settings and "
                                 "the recipe that rebuilds the winner (Noise Search Replay; Save Search Report "
                                 "writes it to a file)."),
        out(io.Int, "best_seed", "The seed whose plain KSampler run gives the winner (random search); -1 when the "
                                 "winner has no seed of its own (zero-order neighbours, paths, particles)."),
        out(io.Noise, "best_noise", "The winner's initial noise, for SamplerCustomAdvanced: reproduces random-"
                                    "search winners with any sampler, zero-order winners only with deterministic "
                                    "samplers (euler, heun, dpmpp_2m, ...). For paths and particles it is the root "
                                    "of the winner's lineage; use Noise Search Replay for the exact winner."),
    ]


def _result(res):
    return io.NodeOutput(*res["result"], ui=res["ui"])


class NoiseSearchSampler(io.ComfyNode):
    """KSampler-style search: KSampler's inputs plus a VAE, a verifier and a strategy."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchSampler", display_name="Noise Search Sampler", category=CATEGORY,
            description="A KSampler that tries many initial noises and keeps the one a verifier scores best "
                        "(inference-time search over noise). Same inputs as KSampler plus a VAE, a verifier and "
                        "an optional strategy; costs about one KSampler run per candidate trajectory.",
            search_aliases=SEARCH_ALIASES + ["ksampler search"],
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model, as for KSampler."),
                seed_input(),
                io.Int.Input("steps", default=20, min=1, max=10000,
                             tooltip="Sampler steps per trajectory (as KSampler). NFE per trajectory = steps x the "
                                     "sampler's model calls per step (1 for euler, 2 for heun)."),
                io.Float.Input("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale (as KSampler); a CFG step counts as one NFE."),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS,
                               tooltip="Sampler (as KSampler). Ancestral and SDE samplers get one noise stream per "
                                       "candidate, seeded as a batch-1 KSampler seeds it."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS,
                               tooltip="Scheduler: how σ falls over the steps (as KSampler)."),
                io.Conditioning.Input("positive", tooltip="Positive conditioning (as KSampler)."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning (as KSampler)."),
                io.Latent.Input("latent_image", tooltip="The start latent, a batch of 1 (Empty Latent Image): the "
                                                        "search makes its own candidates from it."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the schedule run (as KSampler); 1 = from pure noise."),
                *_search_inputs(),
            ],
            outputs=_search_outputs(),
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise,
                vae, verifier, candidates, max_batch, budget_nfe, rerender_winner, strategy=None):
        if denoise <= 0:
            raise ValueError("denoise: must be above 0")
        ks = comfy.samplers.KSampler(model, steps=steps, device=model.load_device, sampler=sampler_name,
                                     scheduler=scheduler, denoise=denoise, model_options=model.model_options)
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        sampler = comfy.samplers.sampler_object(sampler_name)
        return _result(run_search(
            guider=guider, sampler=sampler, sigmas=ks.sigmas, latent=latent_image, seed=seed, vae=vae,
            verifier=verifier, strategy=strategy or RandomSearch(n=int(candidates)), max_batch=max_batch,
            budget=budget_nfe, rerender_winner=rerender_winner, unique_id=cls.hidden.unique_id if cls.hidden else None,
            settings={"cfg": float(cfg), "scheduler": scheduler, "denoise": float(denoise)}))


class NoiseSearchSamplerAdvanced(io.ComfyNode):
    """SamplerCustomAdvanced-style search: any GUIDER (CFG, Flux guidance, dual CFG), SAMPLER and SIGMAS.
    The NOISE input's seed is the search's base seed."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchSamplerAdvanced", display_name="Noise Search Sampler (Advanced)", category=CATEGORY,
            description="The search over GUIDER / SAMPLER / SIGMAS / NOISE, like SamplerCustomAdvanced: any guider "
                        "(Flux guidance, dual CFG) and scheduler. The schedule must end at σ = 0; the NOISE's seed "
                        "is the base seed.",
            search_aliases=SEARCH_ALIASES + ["samplercustomadvanced search", "flux search"],
            inputs=[
                io.Noise.Input("noise", tooltip="A seeded NOISE (Random Noise): its seed is the base seed; candidate "
                                                "i starts from the noise of seed + i."),
                io.Guider.Input("guider", tooltip="Any GUIDER (CFGGuider, BasicGuider with Flux guidance, DualCFG)."),
                io.Sampler.Input("sampler", tooltip="Any SAMPLER (KSamplerSelect, ...)."),
                io.Sigmas.Input("sigmas", tooltip="The σ schedule; must end at σ = 0 (a scheduler's full output, "
                                                  "or the low half of SplitSigmas). Steps = len(sigmas) - 1."),
                io.Latent.Input("latent_image", tooltip="The start latent, a batch of 1."),
                *_search_inputs(),
            ],
            outputs=_search_outputs(),
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, noise, guider, sampler, sigmas, latent_image, vae, verifier, candidates, max_batch, budget_nfe,
                rerender_winner, strategy=None):
        seed = getattr(noise, "seed", None)
        if seed is None:
            raise ValueError("noise: needs a seeded noise (Random Noise); Disable Noise has no seed to search from")
        check_sigmas(sigmas)
        return _result(run_search(
            guider=guider, sampler=sampler, sigmas=sigmas, latent=latent_image, seed=int(seed), vae=vae,
            verifier=verifier, strategy=strategy or RandomSearch(n=int(candidates)), max_batch=max_batch,
            budget=budget_nfe, rerender_winner=rerender_winner, unique_id=cls.hidden.unique_id if cls.hidden else None))


class NoiseSearchNoiseCandidates(io.ComfyNode):
    """N seeded noises as one NOISE: give SamplerCustomAdvanced a latent batch of N and row i gets
    the initial noise of seed + i (best-of-N from stock nodes)."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchNoiseCandidates", display_name="Noise Candidates (seed + i)", category=CATEGORY,
            description="N seeded noises as one NOISE: with a latent batch of N, row i starts from the noise a stock "
                        "KSampler draws for seed + i. Each row is reproducible alone only with deterministic "
                        "samplers (euler, heun, dpmpp_2m, ...): ancestral and SDE samplers draw their step noise for "
                        "the whole batch at once. For a search that reproduces with any sampler, use Noise Search "
                        "Sampler.",
            search_aliases=["batch noise", "seed + i", "random noise batch", "best of n noise"],
            inputs=[seed_input("Base seed: row i gets the noise of seed + i. Keep 'control after generate' on "
                               "randomize (the default): with increment, the next run repeats all but one of this "
                               "run's rows.")],
            outputs=[out(io.Noise, "NOISE", "One NOISE for SamplerCustomAdvanced: row i of a latent batch gets the "
                                            "initial noise of seed + i.")],
        )

    @classmethod
    def execute(cls, seed):
        return io.NodeOutput(CandidateNoise(seed))


NODES = [NoiseSearchSampler, NoiseSearchSamplerAdvanced, NoiseSearchNoiseCandidates]
