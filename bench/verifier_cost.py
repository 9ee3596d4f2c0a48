"""Verifier cost in NFE-equivalents, and the total cost of a search in the paper's units.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (multiply-add = 2 FLOPs) on one
forward at batch 1, with every full-size model built **on the meta device** from its published
config (no weights, no memory):

- diffusion models: ComfyUI's own ``UNetModel`` with the SD1.5 config at 512² (latent 64²) and the
  SDXL config at 1024² (latent 128²), from ``comfy/model_detection.py``; the tiny test UNet
  (``tests/tiny_checkpoint.py``) at 64²/128²/256²;
- verifiers: CLIPScore on CLIP ViT-L/14 (openai/clip-vit-large-patch14), the LAION aesthetic head on
  CLIP ViT-L/14 image embeddings, ImageReward (BLIP ViT-L/16 at 224² + BERT-base with cross-attention
  + MLP head), through the pack's own verifier classes (``Verifier.flops_per_image``), and the tiny
  random-weight versions from ``tests/tiny_models.py``; weight-free verifiers cost 0.

One **NFE** is one denoiser evaluation of one latent as the search counts it (protocol.py): under
classifier-free guidance that is **two** UNet forwards (cond + uncond). Both conversions are shown:
NFE-eq = verifier FLOPs / (UNet FLOPs × 2) (CFG) and / (UNet FLOPs × 1) (guidance-distilled or cfg 1).
Text features are included in a verifier's per-image FLOPs although a search computes them once
per prompt; the image tower dominates (see the ``image_share`` column).

The search-cost table follows the paper's tables: for each configuration, the search NFE and
verifier calls come from running the actual strategy classes (``search/``) on the analytic
denoiser of ``tests/analytic.py`` with the same schedule length (so counts are exact, not
estimated), and total = search NFE + verifier calls × NFE-eq.

    .host/venv/bin/python bench/verifier_cost.py [--steps 30] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host_common as H  # noqa: E402
from scripts.host import COMFY  # noqa: E402

import torch  # noqa: E402

from verifiers.flops import count_flops  # noqa: E402

SD15 = dict(image_size=32, out_channels=4, use_spatial_transformer=True, legacy=False, adm_in_channels=None,
            in_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0],
            channel_mult=[1, 2, 4, 4], transformer_depth_middle=1, use_linear_in_transformer=False, context_dim=768,
            num_heads=8, transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
            use_temporal_attention=False, use_temporal_resblock=False)
SDXL = dict(image_size=32, out_channels=4, use_spatial_transformer=True, legacy=False, num_classes="sequential",
            adm_in_channels=2816, in_channels=4, model_channels=320, num_res_blocks=[2, 2, 2],
            transformer_depth=[0, 0, 2, 2, 10, 10], channel_mult=[1, 2, 4], transformer_depth_middle=10,
            use_linear_in_transformer=True, context_dim=2048, num_head_channels=64,
            transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10], use_temporal_attention=False,
            use_temporal_resblock=False)
#: tests/tiny_checkpoint.py's UNet
TINY = dict(image_size=32, in_channels=4, model_channels=320, out_channels=4, num_res_blocks=[1], channel_mult=[1],
            transformer_depth=[1], transformer_depth_middle=1, transformer_depth_output=[1, 1], num_heads=8,
            context_dim=768, use_spatial_transformer=True, use_linear_in_transformer=False, legacy=False)


def _comfy():
    if str(COMFY) not in sys.path:
        sys.path.append(str(COMFY))  # after the repo: both have a `tests` package
    from comfy.cli_args import args
    args.cpu = not torch.cuda.is_available()
    import comfy.ldm.modules.attention as A
    # ComfyUI's CPU attention (sub-quadratic) asks the device for free memory, which the meta device
    # cannot answer; plain SDPA has the same FLOPs and FlopCounterMode counts it exactly
    A.optimized_attention = A.attention_pytorch
    A.optimized_attention_masked = A.attention_pytorch
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    return UNetModel


def unet_flops(cfg: dict, pixels: int, adm: int = 0) -> dict:
    UNetModel = _comfy()
    with torch.device("meta"):
        unet = UNetModel(**cfg, device="meta")
    lat = pixels // 8
    x = torch.empty(1, 4, lat, lat, device="meta")
    t = torch.empty(1, device="meta")
    ctx = torch.empty(1, 77, cfg["context_dim"], device="meta")
    kw = {"y": torch.empty(1, adm, device="meta")} if adm else {}
    flops = count_flops(lambda: unet(x, t, context=ctx, **kw))
    params = sum(p.numel() for p in unet.parameters())
    return {"pixels": pixels, "latent": lat, "flops_per_forward": float(flops), "params": params}


# -- verifiers ----------------------------------------------------------------------------------------
def _clip_tokenizer(tmp: Path):
    from tests.tiny_models import make_clip_tokenizer
    tok = make_clip_tokenizer(str(tmp / "clip_tok"))
    tok.model_max_length = 77  # the real tokenizer's context (ids of the tiny vocab are valid in 49408)
    return tok


def full_verifiers(tmp: Path) -> dict:
    """The real architectures on the meta device (FLOPs need shapes only)."""
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig, CLIPVisionModelWithProjection
    from verifiers import AestheticScore, CLIPScore, ImageReward
    from verifiers.image_reward import DEFAULT_MED_CONFIG, DEFAULT_VISION, ImageRewardModel, RewardHead, \
        init_blip_tokenizer
    from verifiers.preprocess import Preprocess
    from tests.tiny_models import make_bert_tokenizer_dir

    text = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu")
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    out = {}
    with torch.device("meta"):
        clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=768)).eval()
        cv = CLIPVisionModelWithProjection(CLIPVisionConfig(**vision)).eval()
        head = RewardHead(768).eval()
        irm = ImageRewardModel(DEFAULT_MED_CONFIG, DEFAULT_VISION).eval()
    pre = Preprocess(crop=(224, 224), resize=224)
    out["CLIPScore (CLIP ViT-L/14)"] = CLIPScore(clip, _clip_tokenizer(tmp), pre)
    out["Aesthetic (LAION head on CLIP ViT-L/14)"] = AestheticScore(cv, head, pre)
    bert = tmp / "bert"
    make_bert_tokenizer_dir(str(bert))
    out["ImageReward (BLIP ViT-L/16 + BERT-base)"] = ImageReward(irm, init_blip_tokenizer(str(bert)))
    return out


def image_share(v, pixels: int) -> float:
    """Fraction of a verifier's FLOPs spent on the image (the rest: text, cached in a search)."""
    from verifiers import CLIPScore
    if isinstance(v, CLIPScore):
        img = torch.full((1, pixels, pixels, 3), 0.5, device=v.device)
        f = count_flops(lambda: v.image_embeddings(img))
        return f / max(1.0, v.flops_per_image(pixels, pixels))
    return 1.0


def tiny_verifiers(tmp: Path) -> dict:
    import transformers
    transformers.logging.set_verbosity_error()
    from tests.tiny_models import make_aesthetic_head, make_clip_dir, make_image_reward_files
    from verifiers import AestheticScore, CLIPScore, ImageReward
    clip_dir = make_clip_dir(str(tmp / "tiny_clip"))
    head = make_aesthetic_head(str(tmp / "head.pth"), dim=16)
    ir = make_image_reward_files(str(tmp / "ir"))
    return {"tiny CLIPScore": CLIPScore.from_pretrained(clip_dir),
            "tiny Aesthetic": AestheticScore.from_pretrained(head, clip=clip_dir),
            "tiny ImageReward": ImageReward.from_pretrained(ir)}


# -- search cost (paper tables) -----------------------------------------------------------------------
def search_configs(smoke: bool):
    from search import RandomSearch
    from search.paths import PathsSearch
    from search.zero_order import ZeroOrderSearch
    cfgs = [(f"random search N={n}", RandomSearch(n=n)) for n in ((1, 4) if smoke else (1, 2, 4, 8, 16, 32, 64))]
    cfgs += [("zero-order N=4 K=8 λ=0.5", ZeroOrderSearch(n_neighbors=4, lam=0.5, iterations=8)),
             ("search over paths N=4 M=2 Δf=2 Δb=4", PathsSearch(n=4, m=2, start=0.5, delta_f=2, delta_b=4))]
    if smoke:
        cfgs = cfgs[:2] + cfgs[-1:]
    return cfgs


def search_counts(strategy, steps: int) -> dict:
    from tests.analytic import AnalyticDenoiser
    den = AnalyticDenoiser("ve", steps=steps)
    strategy.run(den, seed=0, max_batch=64)
    return {"nfe": int(den.nfe), "verifier_calls": int(den.verifier_calls)}


def plot(res, path):
    plt = H.plt()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    rows = [r for r in res["verifiers"] if r["flops"] > 0]
    names = [r["name"] for r in rows]
    ax.barh(names, [r["nfe_eq"]["SD1.5 512² (CFG)"] for r in rows], label="SD1.5 512², CFG")
    if "SDXL 1024² (CFG)" in rows[0]["nfe_eq"]:
        ax.barh(names, [r["nfe_eq"]["SDXL 1024² (CFG)"] for r in rows], label="SDXL 1024², CFG", alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("NFE-equivalents per verified image")
    ax.legend(fontsize=8)
    ax.set_title("verifier cost in diffusion-model evaluations", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="sampler steps for the search-cost table (euler: 1 NFE/step)")
    ap.add_argument("--no-sdxl", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="skip SDXL and the larger search configurations")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    models = {"SD1.5 512²": unet_flops(SD15, 512)}
    if not (a.smoke or a.no_sdxl):
        models["SDXL 1024²"] = unet_flops(SDXL, 1024, adm=2816)
    for px in ((64,) if a.smoke else (64, 128, 256)):
        models[f"tiny UNet {px}²"] = unet_flops(TINY, px)
    per_nfe = {}
    for k, m in models.items():
        per_nfe[f"{k} (CFG)"] = 2 * m["flops_per_forward"]
        per_nfe[f"{k} (1 fwd)"] = m["flops_per_forward"]

    with tempfile.TemporaryDirectory(prefix="ns_vcost_") as tmp:
        tmp = Path(tmp)
        vs = {**full_verifiers(tmp), **tiny_verifiers(tmp)}
        from verifiers import Brightness, ColorTarget, Sharpness
        vs.update({"Sharpness (weight-free)": Sharpness(), "ColorTarget (weight-free)": ColorTarget(),
                   "Brightness (weight-free)": Brightness()})
        rows = []
        px = 512
        for name, v in vs.items():
            f = float(v.flops_per_image(px, px))
            rows.append({"name": name, "flops": f, "params": sum(p.numel() for m in v.modules() for p in m.parameters()),
                         "image_share": image_share(v, px) if f else 1.0,
                         "nfe_eq": {k: f / d for k, d in per_nfe.items()}})
    full = [r for r in rows if not r["name"].startswith("tiny") and r["flops"] > 0]
    ens = {"name": "Ensemble (CLIPScore + Aesthetic + ImageReward)", "flops": sum(r["flops"] for r in full),
           "params": sum(r["params"] for r in full), "image_share": 1.0}
    ens["nfe_eq"] = {k: ens["flops"] / d for k, d in per_nfe.items()}
    rows.insert(len(full), ens)

    # paper-style totals, SD1.5 at 512² with CFG as the reference model
    ref = "SD1.5 512² (CFG)"
    cols = {r["name"]: r["nfe_eq"][ref] for r in rows if r["name"] in
            (*(x["name"] for x in full), ens["name"])}
    search_rows = []
    for label, strat in search_configs(a.smoke):
        c = search_counts(strat, a.steps)
        search_rows.append({"config": label, **c,
                            "total_nfe": {v: c["nfe"] + c["verifier_calls"] * e for v, e in cols.items()}})

    res = {"models": models, "nfe_flops": per_nfe, "verifiers": rows, "search_cost": {
        "reference": ref, "steps": a.steps, "sampler": "euler", "rows": search_rows},
        "flop_counter": "torch.utils.flop_counter.FlopCounterMode, meta device, batch 1",
        "machine": H.machine("meta (FLOP count, no compute)"), "command": H.command_line(), "smoke": a.smoke}
    name = "verifier_cost_smoke" if a.smoke else "verifier_cost"
    H.save_json(name, res)
    plot(res, H.out_dir() / f"{name}.png")

    mt = H.table([[k, m["pixels"], f"{m['latent']}²", m["params"] / 1e6, m["flops_per_forward"] / 1e9,
                   2 * m["flops_per_forward"] / 1e9] for k, m in models.items()],
                 ["diffusion model", "pixels", "latent", "params (M)", "GFLOPs / forward", "GFLOPs / NFE (CFG)"])
    keys = [k for k in per_nfe if k.startswith(("SD1.5", "SDXL")) or k == "tiny UNet 64² (CFG)"]
    vt = H.table([[r["name"], r["params"] / 1e6, r["flops"] / 1e9, r["image_share"],
                   *[r["nfe_eq"][k] for k in keys]] for r in rows],
                 ["verifier", "params (M)", "GFLOPs / image", "image share", *[f"NFE-eq vs {k}" for k in keys]])
    vnames = list(cols)
    st = H.table([[r["config"], r["nfe"], r["verifier_calls"], *[r["total_nfe"][v] for v in vnames]]
                  for r in search_rows],
                 ["search configuration", "search NFE", "verifier calls",
                  *[f"total NFE, {v.split(' (')[0]}" for v in vnames]])
    txt = (mt + "\n\n" + vt + f"\n\nSearch cost, {ref}, euler, {a.steps} steps "
           "(total = search NFE + verifier calls × NFE-eq):\n\n" + st)
    res["table"] = txt
    H.save_json(name, res)
    print(txt)
    return res, txt


if __name__ == "__main__":
    main()
