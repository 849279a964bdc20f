"""The frozen backbone: a pretrained model read through a soft prompt.

A `Backbone` wraps a Hugging Face model and its tokenizer. Its weights are frozen
(`requires_grad_(False)`) and it always stays in eval mode (no dropout), so the only things that
train are the soft prompts (and the small heads) handed to it. Every forward takes a *list* of
sequences, each with its own prompt `[P_i, H]` (or `None`), which is what lets the packed trainer
put many independent runs into one batch.

Input layout of one sequence (encoder and decoder): `[prompt_1 .. prompt_P, tok_1 .. tok_L]`,
right-padded to the longest sequence of the batch (dynamic padding); for seq2seq the prompt is
prepended to the encoder input and the answer goes to the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from intertask.errors import IntertaskError


@dataclass(frozen=True)
class Tokens:
    """One tokenised input: its token `ids`, with the model's special tokens.

    Segment (token type) ids are not used: like PEFT's prompt tuning, a pair is read with segment 0
    throughout, so an exported adapter behaves exactly as it did in training.
    """

    ids: tuple[int, ...]


class Backbone(nn.Module):
    """A frozen model with `kind`, `name`, `hidden_size` and `tokenizer`.

    Subclasses implement `tokenize` and `_hidden` (hidden states of the prompted texts) and, for
    text-to-text kinds, `answer_logprob`.
    """

    kind: str = ""

    def __init__(self, name: str, model: nn.Module, tokenizer, hidden_size: int):
        super().__init__()
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.hidden_size = int(hidden_size)
        self.model.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "Backbone":
        """Always eval mode: the backbone is frozen and dropout would break determinism."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.input_embeddings().device

    @property
    def max_positions(self) -> int | None:
        """Positions one input may fill (prompt + text), or None when the model has no such limit
        (relative positions, as in T5)."""
        return None if self.kind == "seq2seq" else getattr(self.model.config, "max_position_embeddings", None)

    def check_fits(self, prompt_length: int, max_length: int, where: str = "") -> None:
        """Raise `IntertaskError` unless `prompt_length + max_length <= max_positions`."""
        limit = self.max_positions
        if limit is not None and prompt_length + max_length > limit:
            raise IntertaskError(
                f"{where}prompt_length {prompt_length} + max_length {max_length} exceed the {limit} positions of "
                f"backbone {self.name!r}; shorten the prompt or max_length")

    def input_embeddings(self) -> torch.Tensor:
        """The token embedding matrix `[V, H]` (prompts live in this space)."""
        return self.model.get_input_embeddings().weight

    # ----------------------------------------------------------------- tokenisation

    def tokenize(self, texts: list[str], text_pairs: list[str | None] | None = None,
                 max_length: int = 128) -> list[Tokens]:
        """Token ids of each text (and pair), truncated to `max_length` tokens."""
        if text_pairs is None or all(p is None for p in text_pairs):
            enc = self.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
            return [Tokens(tuple(ids)) for ids in enc]
        return [Tokens(tuple(self.tokenizer(text, pair, truncation=True, max_length=max_length)["input_ids"]))
                for text, pair in zip(texts, text_pairs)]

    # ----------------------------------------------------------------- packed inputs

    def prompted_inputs(self, prompts: list[torch.Tensor | None], tokens: list[Tokens]):
        """Build one right-padded batch of `[prompt_i ; embed(tokens_i)]`.

        Returns `inputs_embeds [B, T, H]`, `attention_mask [B, T]` (1 on prompt and text) and
        `text_mask [B, T]` (1 on text tokens only).
        """
        device = self.device
        lengths = [len(t.ids) for t in tokens]
        flat = torch.tensor([i for t in tokens for i in t.ids], dtype=torch.long, device=device)
        embedded = self.model.get_input_embeddings()(flat).split(lengths)
        rows, masks, text_masks = [], [], []
        for prompt, emb, tok in zip(prompts, embedded, tokens):
            n_prompt = 0 if prompt is None else prompt.shape[0]
            rows.append(emb if prompt is None else torch.cat([prompt.to(emb.dtype), emb], dim=0))
            masks.append(torch.ones(n_prompt + len(tok.ids), dtype=torch.long))
            text_masks.append(torch.cat([torch.zeros(n_prompt), torch.ones(len(tok.ids))]))
        pad = nn.utils.rnn.pad_sequence
        inputs = pad(rows, batch_first=True)
        mask = pad(masks, batch_first=True).to(device)
        text_mask = pad(text_masks, batch_first=True).to(device)
        return inputs, mask, text_mask

    def _hidden(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states `[B, T, H]` of the (encoder part of the) model."""
        raise NotImplementedError

    def pooled(self, prompts: list[torch.Tensor | None], tokens: list[Tokens]) -> torch.Tensor:
        """Mean of the last hidden states over each sequence's text tokens: `[B, H]`.

        pooled_i = sum_t text_mask[i, t] * h[i, t] / sum_t text_mask[i, t]
        """
        inputs, mask, text_mask = self.prompted_inputs(prompts, tokens)
        hidden = self._hidden(inputs, mask).float()
        weights = text_mask.unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    @torch.no_grad()
    def features(self, texts: list[str], prompt: torch.Tensor | np.ndarray | None = None,
                 text_pairs: list[str | None] | None = None, batch_size: int = 64,
                 max_length: int = 128) -> np.ndarray:
        """Pooled hidden states `[N, H]` of `texts`, read through `prompt` (`[P, H]`) when given."""
        if prompt is not None:
            prompt = torch.as_tensor(np.asarray(prompt), dtype=torch.float32, device=self.device)
            if prompt.ndim != 2 or prompt.shape[1] != self.hidden_size:
                raise IntertaskError(
                    f"prompt has shape {tuple(prompt.shape)}, but backbone {self.name!r} needs [P, {self.hidden_size}]"
                )
        tokens = self.tokenize(list(texts), text_pairs, max_length=max_length)
        order = np.argsort([len(t.ids) for t in tokens], kind="stable")  # length bucketing
        out = np.zeros((len(tokens), self.hidden_size), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = [tokens[i] for i in idx]
            out[idx] = self.pooled([prompt] * len(batch), batch).cpu().numpy()
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r}, hidden_size={self.hidden_size})"
