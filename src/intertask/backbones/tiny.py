"""Tiny randomly initialised backbones for tests: `tiny-encoder`, `tiny-decoder`, `tiny-t5`.

Built in-process in well under a second, no download: a small `BertConfig` / `LlamaConfig` /
`T5Config` initialised from a fixed seed (without touching the global RNG), and a word-level
tokenizer over a fixed vocabulary that covers every word of the toy tasks. The same name always
gives the same weights.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "<s>", "</s>")
_COMMON = (
    ": ? ! . , ' - ( ) 0 1 2 3 4 5 6 7 8 9 answer question choice yes no true false not and or but if "
    "then so because he she they we you i is are was were be been do does did has have had what which "
    "who why how when where can could will would should may might must also more most less least all any "
    "none one two three four five many few other same different entailment contradiction neutral"
).split()
HIDDEN = 32
_SEED = 1234


def _vocabulary() -> list[str]:
    """Specials, then a sorted list of the toy tasks' words, labels and a few common words."""
    from intertask.tasks.toy import TOY_TASKS, toy_task

    words = set(_COMMON)
    for name in TOY_TASKS:
        task = toy_task(name, n_train=300, n_eval=1, seed=0)
        words.update(label.lower() for label in task.labels)
        for ex in task.train:
            words.update(ex.text.lower().split())
    return list(SPECIALS) + sorted(words - set(SPECIALS))


def tiny_tokenizer(kind: str):
    """A deterministic word-level `PreTrainedTokenizerFast` with the special tokens `kind` needs."""
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(_vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = [(t, vocab[t]) for t in SPECIALS]
    if kind == "encoder":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=specials
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        bos_token="<s>" if kind == "decoder" else None, eos_token="</s>" if kind != "encoder" else None,
    )


def tiny_backbone(name: str, device: str = "cpu"):
    """Build `tiny-encoder`, `tiny-decoder` or `tiny-t5` (hidden size 32, two layers)."""
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    from intertask.backbones.decoder import DecoderBackbone
    from intertask.backbones.encoder import EncoderBackbone
    from intertask.backbones.seq2seq import Seq2SeqBackbone

    kind = {"tiny-encoder": "encoder", "tiny-decoder": "decoder", "tiny-t5": "seq2seq"}[name]
    tokenizer = tiny_tokenizer(kind)
    vocab_size = len(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        if kind == "encoder":
            config = BertConfig(vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                                pad_token_id=0)
            model, wrapper = BertModel(config, add_pooling_layer=False), EncoderBackbone
        elif kind == "decoder":
            config = LlamaConfig(vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                 max_position_embeddings=512, pad_token_id=0, bos_token_id=4, eos_token_id=5,
                                 tie_word_embeddings=False)
            model, wrapper = LlamaForCausalLM(config), DecoderBackbone
        else:
            config = T5Config(vocab_size=vocab_size, d_model=HIDDEN, d_kv=16, d_ff=64, num_layers=2,
                              num_decoder_layers=2, num_heads=2, relative_attention_num_buckets=8,
                              pad_token_id=0, eos_token_id=5, decoder_start_token_id=0)
            model, wrapper = T5ForConditionalGeneration(config), Seq2SeqBackbone
    return wrapper(name, model.to(device), tokenizer)
