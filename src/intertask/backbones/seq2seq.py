"""Seq2seq backbones (the T5 family, as in the paper): the prompt goes in front of the encoder
input, the verbalised answer is the decoder target; answers are ranked by log-likelihood.

    score(a) = sum_j log p(a_j | encoder(prompt ; context), a_<j)
"""

from __future__ import annotations

import torch
from torch import nn

from intertask.backbones.base import Backbone, Tokens
from intertask.backbones.decoder import TextToTextMixin


class Seq2SeqBackbone(TextToTextMixin, Backbone):
    """A frozen encoder-decoder; `pooled()` averages the encoder's states."""

    kind = "seq2seq"

    def __init__(self, name: str, model, tokenizer):
        super().__init__(name, model, tokenizer, model.config.d_model)

    def _context_specials(self):
        eos = self.tokenizer.eos_token_id
        return [], ([eos] if eos is not None else [])

    def _answer_suffix(self):
        eos = self.tokenizer.eos_token_id
        return [eos] if eos is not None else []

    def _hidden(self, inputs, mask):
        return self.model.get_encoder()(inputs_embeds=inputs, attention_mask=mask).last_hidden_state

    def answer_logprob(self, prompts, contexts: list[Tokens], answers: list[tuple[int, ...]]):
        """Summed log-probability `[B]` of each answer (teacher forcing) and its token count `[B]`."""
        inputs, mask, _ = self.prompted_inputs(prompts, contexts)
        device = inputs.device
        pad_id = self.model.config.pad_token_id
        labels = nn.utils.rnn.pad_sequence([torch.tensor(a) for a in answers], batch_first=True,
                                           padding_value=-100).to(device)
        start = self.model.config.decoder_start_token_id
        decoder_inputs = torch.cat([torch.full_like(labels[:, :1], start), labels[:, :-1]], dim=1)
        decoder_inputs = decoder_inputs.masked_fill(decoder_inputs == -100, pad_id)
        logits = self.model(inputs_embeds=inputs, attention_mask=mask, decoder_input_ids=decoder_inputs,
                            decoder_attention_mask=(labels != -100).long()).logits.float()
        valid = labels != -100
        token_lp = logits.log_softmax(-1).gather(2, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        return (token_lp * valid).sum(1), valid.sum(1).float()
