"""Decoder backbones (causal LMs, e.g. SmolLM2-135M): rank verbalised answers by log-likelihood.

A context is `text [\\n text_pair]` followed by `ANSWER_CUE`; an answer is `" " + label`. The score of
an answer is its summed token log-probability given `[prompt ; context]`:

    score(a) = sum_j log p(a_j | prompt, context, a_<j)
"""

from __future__ import annotations

import torch

from intertask.backbones.base import Backbone, Tokens

ANSWER_CUE = "\nAnswer:"


class TextToTextMixin:
    """Context/answer tokenisation shared by decoder and seq2seq backbones."""

    def tokenize(self, texts, text_pairs=None, max_length: int = 128) -> list[Tokens]:
        pairs = text_pairs if text_pairs is not None else [None] * len(texts)
        tok = self.tokenizer
        cue = tok(ANSWER_CUE, add_special_tokens=False)["input_ids"]
        prefix, suffix = self._context_specials()
        budget = max(1, max_length - len(cue) - len(prefix) - len(suffix))
        out = []
        for text, pair in zip(texts, pairs):
            body = text if pair is None else f"{text}\n{pair}"
            ids = tok(body, add_special_tokens=False, truncation=True, max_length=budget)["input_ids"]
            out.append(Tokens(tuple(prefix + ids + cue + suffix)))
        return out

    def tokenize_answers(self, answers: list[str]) -> list[tuple[int, ...]]:
        """Token ids of each verbalised answer (never empty)."""
        out = []
        for answer in answers:
            ids = self.tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
            ids = ids + self._answer_suffix()
            out.append(tuple(ids) or (self.tokenizer.unk_token_id,))
        return out

    def _context_specials(self) -> tuple[list[int], list[int]]:
        return [], []

    def _answer_suffix(self) -> list[int]:
        return []


class DecoderBackbone(TextToTextMixin, Backbone):
    """A frozen causal LM; `answer_logprob()` scores answers, `pooled()` gives features."""

    kind = "decoder"

    def __init__(self, name: str, model, tokenizer):
        super().__init__(name, model, tokenizer, model.config.hidden_size)

    def _context_specials(self):
        bos = self.tokenizer.bos_token_id
        return ([bos] if bos is not None else []), []

    def _hidden(self, inputs, mask):
        return self.model.base_model(inputs_embeds=inputs, attention_mask=mask).last_hidden_state

    def answer_logprob(self, prompts, contexts: list[Tokens], answers: list[tuple[int, ...]]):
        """Summed log-probability `[B]` of each answer and its token count `[B]`.

        The answer tokens are appended to the context; position t's logits predict token t + 1.
        Only the answer positions go through the LM head (memory: B x |answer| x V, not B x T x V).
        """
        joined = [Tokens(c.ids + a) for c, a in zip(contexts, answers)]
        inputs, mask, _ = self.prompted_inputs(prompts, joined)
        hidden = self._hidden(inputs, mask)
        rows, cols, targets = [], [], []
        for i, (prompt, ctx, ans) in enumerate(zip(prompts, contexts, answers)):
            start = (0 if prompt is None else prompt.shape[0]) + len(ctx.ids)
            for j, token in enumerate(ans):
                rows.append(i)
                cols.append(start + j - 1)
                targets.append(token)
        device = hidden.device
        rows_t = torch.tensor(rows, device=device)
        logits = self.model.get_output_embeddings()(hidden[rows_t, torch.tensor(cols, device=device)]).float()
        token_lp = logits.log_softmax(-1).gather(1, torch.tensor(targets, device=device)[:, None]).squeeze(1)
        total = torch.zeros(len(answers), device=device).index_add(0, rows_t, token_lp)
        counts = torch.tensor([len(a) for a in answers], device=device, dtype=torch.float32)
        return total, counts


def smollm2_dir() -> "Path":
    """Folder of SmolLM2-135M-Instruct as float32 safetensors, converted once from the GGUF file.

    Dequantising the GGUF (Q4_1) takes ~20 s, so the result is cached under
    `cache_dir()/models/smollm2-135m/`: a clean `LlamaConfig` (no `quantization_config`), the
    weights (`save_pretrained`, safetensors) and the tokenizer; written to a temp folder and renamed.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from intertask.assets import smollm2_gguf
    from intertask.paths import cache_dir

    target = cache_dir() / "models" / "smollm2-135m"
    if (target / "config.json").exists():
        return target
    gguf = smollm2_gguf()
    try:
        import gguf as _  # noqa: F401  (transformers' GGUF reader needs it)
    except ImportError:
        from intertask.errors import IntertaskError

        raise IntertaskError("converting SmolLM2 from GGUF needs the `gguf` package: pip install gguf") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    settings = quantised.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "architectures", "model_type", "transformers_version", "dtype", "torch_dtype"):
        settings.pop(key, None)
    config = LlamaConfig(**settings)
    config.architectures = ["LlamaForCausalLM"]
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantised.state_dict())
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".smollm2-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
