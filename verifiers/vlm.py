"""VLM judge: a local chat vision-language model grades each image, read off its next-token
probabilities (one forward pass, no sampling, no parsing).

Any model that transformers loads with ``AutoModelForImageTextToText`` + ``AutoProcessor`` and whose
processor has a chat template works (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, ...).

Rubric modes (the paper's LLM-grader axes): the question asks for a score from 0 to 10 and the
score is its **expected value** under the model's next-token distribution restricted to the score
tokens ``0`` … ``10`` (renormalised). Tokenizers that write ``10`` as two tokens (``1``, ``0``; Qwen
splits digits) are handled in the same forward pass: the token ``1`` is appended to the input, the
logits at the last-but-one position give the first digit, those at the last position give
P(``0`` | ``1``); then P(10) = P(1)·P(0 | 1) and P(score 1) = P(1)·(1 − P(0 | 1)).

- ``overall``: one question about the image as a whole;
- one axis (``accuracy``, ``creativity``, ``quality``, ``consistency``, ``resonance``);
- ``mean``: the mean of the five axes' expected scores (five rows per image);
- ``vqascore``: P(``Yes``) over the full vocabulary for "Does this image show {prompt}?" (in [0, 1]).

Scores are computed from float32 logits whatever the model's dtype.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterable, List, Optional, Sequence

import torch

from .base import Verifier
from .loading import resolve

DEFAULT_VLM = "Qwen/Qwen2.5-VL-3B-Instruct"

AXES = {
    "accuracy": "accuracy to the prompt",
    "creativity": "creativity and originality",
    "quality": "visual quality and realism",
    "consistency": "consistency and cohesion",
    "resonance": "emotional or thematic resonance",
}
OVERALL = "overall quality (accuracy to the prompt, creativity, visual quality, consistency and resonance together)"
MODES = ("overall", "mean") + tuple(AXES) + ("vqascore",)

RUBRIC_TEMPLATE = ("This image was generated from the prompt: \"{prompt}\".\n"
                   "Rate its {axis} on a scale from 0 (worst) to 10 (best). Answer with only the number.")
QUESTION_TEMPLATE = "Does this image show \"{prompt}\"? Answer Yes or No."


def _single_token(tokenizer, text: str) -> Optional[int]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def score_token_ids(tokenizer):
    """(ids of '0'..'9', id of '10' or None when it is two tokens '1' '0')."""
    digits = [_single_token(tokenizer, str(k)) for k in range(10)]
    if any(d is None for d in digits):
        raise ValueError("the VLM's tokenizer does not write the digits 0-9 as single tokens; "
                         "use vqascore mode or a model whose tokenizer does (Qwen-VL, LLaVA, ...)")
    return digits, _single_token(tokenizer, "10")


def expected_score(first: torch.Tensor, after_one: Optional[torch.Tensor], digits: Sequence[int],
                   ten: Optional[int]) -> torch.Tensor:
    """E[score] from next-token logits ``first`` [N, V] (and ``after_one`` [N, V], the logits after
    a '1', when '10' is two tokens). Probabilities are renormalised over the scores 0..10."""
    p = torch.softmax(first.float(), dim=-1)
    probs = p[:, list(digits)]
    if ten is not None:
        p10 = p[:, ten]
    else:
        q0 = torch.softmax(after_one.float(), dim=-1)[:, digits[0]]
        p10 = probs[:, 1] * q0
        probs = probs.clone()
        probs[:, 1] = probs[:, 1] * (1 - q0)
    probs = torch.cat([probs, p10[:, None]], dim=1)
    probs = probs / probs.sum(dim=1, keepdim=True)
    return probs @ torch.arange(11, dtype=probs.dtype, device=probs.device)


@contextlib.contextmanager
def fp32_head(model):
    """Compute the output projection (the LM head) in float32 while the backbone may run in half
    precision, so probabilities are not quantised to bf16 steps. No-op for float32 models and for
    models that post-process logits (soft-capping)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    cfg = getattr(model.config, "get_text_config", lambda: model.config)()
    if head is None or head.weight.dtype == torch.float32 or getattr(cfg, "final_logit_softcapping", None):
        yield
        return

    def hook(mod, args, out):
        bias = mod.bias.float() if getattr(mod, "bias", None) is not None else None
        return torch.nn.functional.linear(args[0].float(), mod.weight.float(), bias)

    h = head.register_forward_hook(hook)
    try:
        yield
    finally:
        h.remove()


class VLMJudge(Verifier):
    """Score images with a chat VLM (see the module docstring). ``rows_per_forward`` bounds how many
    (image, question) rows go through one forward."""

    uses_prompt = True

    def __init__(self, model, processor, mode: str = "overall", rubric_template: str = RUBRIC_TEMPLATE,
                 question_template: str = QUESTION_TEMPLATE, name: Optional[str] = None,
                 rows_per_forward: int = 8):
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        self.model, self.processor, self.mode = model, processor, mode
        self.rubric_template, self.question_template = rubric_template, question_template
        self.name = name or f"vlm({mode})"
        self.rows_per_forward = max(1, int(rows_per_forward))
        self._check_template()
        tok = self.tokenizer
        if mode == "vqascore":
            self.yes = tok.encode("Yes", add_special_tokens=False)[0]
        else:
            self.digits, self.ten = score_token_ids(tok)
        self.last_logits: Optional[torch.Tensor] = None

    @classmethod
    def from_pretrained(cls, spec: str = DEFAULT_VLM, search_dirs: Iterable[str] = (),
                        dtype: Optional[torch.dtype] = None, **kw) -> "VLMJudge":
        from transformers import AutoModelForImageTextToText, AutoProcessor
        path = resolve(spec, search_dirs, what="VLM judge model", required=("config.json",),
                       allow_download=kw.pop("allow_download", None))
        model = AutoModelForImageTextToText.from_pretrained(path, **({"dtype": dtype} if dtype else {}))
        model.eval().requires_grad_(False)
        processor = AutoProcessor.from_pretrained(path)
        processor.tokenizer.padding_side = "left"
        kw.setdefault("name", f"vlm({os.path.basename(spec.rstrip('/'))}, {kw.get('mode', 'overall')})")
        return cls(model, processor, **kw)

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    def _check_template(self):
        tpl = self.question_template if self.mode == "vqascore" else self.rubric_template
        try:
            tpl.format(prompt="p", axis="a")
        except (KeyError, IndexError, ValueError) as e:
            which = "question_template" if self.mode == "vqascore" else "rubric_template"
            raise ValueError(f"{which} may use only {{prompt}} and {{axis}} (write {{{{ }}}} for a literal "
                             f"brace): {e}") from e

    def modules(self):
        return [self.model]

    # -- questions --------------------------------------------------------------------------
    def questions(self, prompt: str) -> List[str]:
        """The questions asked about each image for ``prompt`` (five in ``mean`` mode)."""
        if self.mode == "vqascore":
            return [self.question_template.format(prompt=prompt, axis="")]
        axes = list(AXES.values()) if self.mode == "mean" else [AXES.get(self.mode, OVERALL)]
        return [self.rubric_template.format(prompt=prompt, axis=a) for a in axes]

    def chat_text(self, question: str) -> str:
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    # -- forward ----------------------------------------------------------------------------
    def _inputs(self, images: torch.Tensor, texts: List[str], append: Optional[int]):
        pics = [im.permute(2, 0, 1).float().cpu().clamp(0, 1) for im in images]
        batch = self.processor(text=texts, images=pics, return_tensors="pt", padding=True, do_rescale=False)
        batch = dict(batch)
        if append is not None:  # one more token at the end of every row (rows are left-padded)
            ids = batch["input_ids"]
            for k, v in list(batch.items()):
                if isinstance(v, torch.Tensor) and v.shape == ids.shape:
                    fill = append if k == "input_ids" else (1 if k == "attention_mask" else 0)
                    batch[k] = torch.cat([v, torch.full_like(v[:, :1], fill)], dim=1)
        dev, dt = self.device, self.dtype
        return {k: (v.to(dev, dtype=dt) if v.is_floating_point() else v.to(dev)) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()}

    def row_logits(self, images: torch.Tensor, texts: List[str]) -> torch.Tensor:
        """Next-token logits (float32) of each (image, chat text) row: [N, V], or [N, 2, V] (the
        last-but-one and last positions) when a '1' is appended for a two-token '10'."""
        append = self.digits[1] if (self.mode != "vqascore" and self.ten is None) else None
        out = []
        keep = 2 if append is not None else 1
        with fp32_head(self.model):
            for s in range(0, len(texts), self.rows_per_forward):
                inp = self._inputs(images[s:s + self.rows_per_forward], texts[s:s + self.rows_per_forward], append)
                logits = self._forward(inp, keep)
                out.append((logits[:, -2:] if append is not None else logits[:, -1]).float())
        return torch.cat(out)

    def _forward(self, inp, keep: int) -> torch.Tensor:
        """Logits of the last ``keep`` positions only (full-vocabulary logits of every image token
        would take gigabytes), where the model supports ``logits_to_keep``."""
        if self.__dict__.get("_keep_ok", True):
            try:
                return self.model(**inp, logits_to_keep=keep).logits
            except TypeError:
                self.__dict__["_keep_ok"] = False
        return self.model(**inp).logits

    def _score(self, images, prompts, mid_images):
        per = [self.questions(p) for p in prompts]
        k = len(per[0])
        rows_img = images.repeat_interleave(k, dim=0)
        texts = [self.chat_text(q) for qs in per for q in qs]
        logits = self.row_logits(rows_img, texts)
        self.last_logits = logits.detach().cpu()
        if self.mode == "vqascore":
            s = torch.softmax(logits, dim=-1)[:, self.yes]
        elif self.ten is None:
            s = expected_score(logits[:, 0], logits[:, 1], self.digits, None)
        else:
            s = expected_score(logits, None, self.digits, self.ten)
        return s.reshape(images.shape[0], k).mean(dim=1)

    def describe(self) -> dict:
        d = super().describe()
        d["mode"] = self.mode
        return d
