"""Encoder backbones (BERT family, e.g. all-MiniLM-L6-v2): classify from pooled hidden states.

The prompt goes in front of `[CLS]`, as in PEFT's prompt tuning for encoders; segment ids of the
prompt positions are 0.
"""

from __future__ import annotations

import torch

from intertask.backbones.base import Backbone


class EncoderBackbone(Backbone):
    """A frozen `AutoModel` encoder; `pooled()` gives the features a task head reads."""

    kind = "encoder"

    def __init__(self, name: str, model, tokenizer):
        super().__init__(name, model, tokenizer, model.config.hidden_size)

    def _hidden(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=inputs, attention_mask=mask).last_hidden_state
