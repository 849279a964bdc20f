"""Frozen backbones: `load_backbone(name)` gives an encoder, decoder or seq2seq `Backbone`.

Names: `minilm` (default; all-MiniLM-L6-v2 from the PyPI package), `smollm2` (SmolLM2-135M-Instruct,
converted once from GGUF), `t5:<dir or hub id>`, `encoder:<...>` / `decoder:<...>`, a local model
folder (its kind read from `config.json`), a hub id `org/name` the user has access to, and the tiny
random test backbones `tiny-encoder`, `tiny-decoder`, `tiny-t5`.
"""

from __future__ import annotations

from intertask.backbones.base import Backbone, Tokens
from intertask.errors import IntertaskError, did_you_mean

BUILTIN = ("minilm", "smollm2", "tiny-encoder", "tiny-decoder", "tiny-t5")
PREFIXES = ("t5:", "encoder:", "decoder:")

__all__ = ["BUILTIN", "Backbone", "Tokens", "load_backbone", "resolve_device"]


def resolve_device(device: str) -> str:
    """`auto` → `cuda` when torch sees a GPU, else `cpu`; a requested device must exist."""
    import re

    import torch

    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
        raise IntertaskError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise IntertaskError(f"device {device!r} is not available here (no CUDA GPU visible to torch); use auto or cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise IntertaskError("device 'mps' is not available here; use auto or cpu")
    return device


def load_backbone(name: str = "minilm", device: str = "cpu") -> Backbone:
    """Load the frozen backbone `name` onto `device` (weights frozen, eval mode).

    >>> load_backbone("tiny-encoder").hidden_size
    32
    """
    from pathlib import Path

    import torch

    device = resolve_device(str(device))
    if name in ("tiny-encoder", "tiny-decoder", "tiny-t5"):
        from intertask.backbones.tiny import tiny_backbone

        return tiny_backbone(name, device)
    if name == "minilm":
        from intertask.assets import minilm_dir

        return _from_pretrained("minilm", str(minilm_dir()), "encoder", device)
    if name == "smollm2":
        from intertask.backbones.decoder import smollm2_dir

        return _from_pretrained("smollm2", str(smollm2_dir()), "decoder", device)
    for prefix in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            kind = "seq2seq" if prefix == "t5:" else prefix[:-1]
            return _from_pretrained(name, name[len(prefix):], kind, device)
    if Path(name).is_dir() or (name.count("/") == 1 and not name.startswith((".", "/"))):
        return _from_pretrained(name, name, None, device)
    raise IntertaskError(
        f"unknown backbone {name!r}{did_you_mean(name, BUILTIN)}; use one of {', '.join(BUILTIN)}, "
        "a local model folder, or t5:<folder or hub id>"
    )


def _kind_of(config) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if any(arch.endswith("ForCausalLM") for arch in (getattr(config, "architectures", None) or [])):
        return "decoder"
    return "encoder"


def _from_pretrained(name: str, source: str, kind: str | None, device: str) -> Backbone:
    """Load `source` (a folder or a hub id) as a backbone of `kind` (read from its config if None)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(source)
        kind = kind or _kind_of(config)
        loader = {"encoder": AutoModel, "decoder": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM}[kind]
        model = loader.from_pretrained(source, dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IntertaskError(f"cannot load backbone {name!r} from {source!r} ({first}); "
                             "pass a local model folder or a hub id you can reach") from None
    from intertask.backbones.decoder import DecoderBackbone
    from intertask.backbones.encoder import EncoderBackbone
    from intertask.backbones.seq2seq import Seq2SeqBackbone

    wrapper = {"encoder": EncoderBackbone, "decoder": DecoderBackbone, "seq2seq": Seq2SeqBackbone}[kind]
    if kind == "decoder" and tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return wrapper(name, model.to(device), tokenizer)
