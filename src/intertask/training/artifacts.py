"""Prompt artifacts: one safetensors file per run, verified on load, exportable to PEFT.

File layout (`save_artifact`): tensors `prompt` `[P, H]`, `snapshot.<step>` `[P, H]` and
`head.<name>`; the safetensors metadata holds one key, `intertask`, a JSON object with the
format version, run id, task, seed, backbone name, hidden size, prompt shape, config, scores,
history and `sha256`, the checksum of the tensors and the rest of the metadata:

    sha256 = SHA-256 over tensors sorted by name of (name, dtype, shape, raw bytes),
             then over the metadata's JSON with sorted keys, less `sha256`

Files of the older format `intertask-prompt/1` (in stores written before) carry a checksum of the
tensors only, and still load. Loading (`load_artifact`) reads only tensors and JSON (never
unpickles; no `torch.load`) and checks the checksum, the metadata's types, the tensor names, that
every tensor is finite, the prompt shape and, when asked, the backbone. `export_peft` writes a PEFT
prompt-tuning adapter (`adapter_config.json` + `adapter_model.safetensors`) for the same backbone.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from intertask.checks import field_problem, is_integer, is_number, is_text, list_of, object_of
from intertask.errors import IntertaskError
from intertask.paths import atomic_output, check_output_file, folder_beside
from intertask.training.config import RunResult, TrainConfig

FORMAT = "intertask-prompt/2"
TENSORS_ONLY_FORMAT = "intertask-prompt/1"  # older files: the checksum leaves the metadata out


@dataclass
class PromptArtifact:
    """A loaded prompt artifact: the best prompt, its head, snapshots and the run's metadata."""

    path: Path
    prompt: torch.Tensor  # [P, H]
    head: dict[str, torch.Tensor]
    snapshots: dict[int, torch.Tensor]
    backbone: str
    hidden_size: int
    config: TrainConfig
    run_id: str = ""
    task_name: str = ""
    seed: int = 0
    best_step: int = 0
    validation_score: float = float("nan")
    test_score: float = float("nan")
    test_metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    sha256: str = ""


def artifact_sha256(tensors: dict[str, torch.Tensor], meta: dict | None = None) -> str:
    """Checksum of named tensors, independent of their order in the file, and of the metadata
    `meta` less its `sha256` key (left out for the older tensors-only format)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if meta is not None:
        digest.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    return digest.hexdigest()


# metadata field -> (test of its value, what it must be)
_FIELDS = {
    "backbone": (is_text, "a string"),
    "hidden_size": (lambda v: is_integer(v) and v > 0, "a positive integer"),
    "prompt_shape": (lambda v: list_of(lambda x: is_integer(x) and x > 0)(v) and len(v) == 2,
                     "a list of two positive integers"),
    "config": (lambda v: isinstance(v, dict), "an object"),
    "sha256": (is_text, "a string"),
    "run_id": (is_text, "a string"),
    "task_name": (is_text, "a string"),
    "seed": (is_integer, "an integer"),
    "best_step": (is_integer, "an integer"),
    "validation_score": (is_number, "a number"),
    "test_score": (is_number, "a number"),
    "test_metrics": (object_of(is_number), "an object of numbers"),
    "history": (list_of(lambda h: isinstance(h, list) and len(h) == 2 and is_integer(h[0]) and is_number(h[1])),
                "a list of [step, score] pairs"),
}
_REQUIRED = ("backbone", "hidden_size", "prompt_shape", "config", "sha256")


def _tensor_problem(tensors: dict[str, torch.Tensor]) -> str | None:
    """A tensor whose name is not `prompt`, `head.<name>` or `snapshot.<step>`, or that holds NaN
    or infinite values, described; or None."""
    for name, tensor in sorted(tensors.items()):
        kind, _, step = name.partition(".")
        snapshot = kind == "snapshot" and step.isascii() and step.isdigit()
        if not (name == "prompt" or (kind == "head" and step) or snapshot):
            return f"unexpected tensor {name!r}"
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return f"tensor {name!r} holds NaN or infinite values"
    return None


def save_artifact(path, result: RunResult, backbone_name: str, what: str = "out") -> str:
    """Write `result`'s prompt, snapshots and head to `path` atomically (`paths.atomic_output`;
    `what`: the parameter that named the path, in its errors); return the checksum."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {"prompt": result.prompt.detach().float().cpu().contiguous()}
    tensors.update({f"snapshot.{int(s)}": p.detach().float().cpu().contiguous() for s, p in result.snapshots.items()})
    tensors.update({f"head.{k}": v.detach().float().cpu().contiguous() for k, v in result.head.items()})
    meta = {
        "format": FORMAT, "run_id": result.run_id, "task_name": result.task_name, "seed": int(result.seed),
        "backbone": backbone_name, "hidden_size": int(tensors["prompt"].shape[1]),
        "prompt_shape": list(tensors["prompt"].shape), "config": result.config.to_dict(),
        "best_step": int(result.best_step), "validation_score": float(result.validation_score),
        "test_score": float(result.test_score), "test_metrics": {k: float(v) for k, v in result.test_metrics.items()},
        "history": [[int(s), float(v)] for s, v in result.history],
    }
    checksum = meta["sha256"] = artifact_sha256(tensors, meta)
    data = save(tensors, metadata={"intertask": json.dumps(meta, sort_keys=True)})
    with atomic_output(path, what) as tmp:
        tmp.write_bytes(data)
    return checksum


def load_artifact(path, expect_backbone: str | None = None) -> PromptArtifact:
    """Read and verify a prompt artifact; a bad file raises `IntertaskError` naming the problem."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        what = ("is a folder" if path.is_dir() else "is not a regular file (a FIFO or device)" if path.exists()
                else "does not exist")
        raise IntertaskError(f"prompt file {str(path)!r} {what}; pass a .safetensors file written by intertask")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("intertask")
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise IntertaskError(f"{path} is not a readable safetensors file ({err}); it may be corrupted, train it again") from None
    if raw is None:
        raise IntertaskError(f"{path} has no intertask metadata; it was not written by intertask")
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise TypeError(f"a JSON object expected, got {type(meta).__name__}")
    except (ValueError, TypeError, RecursionError) as err:
        raise IntertaskError(f"{path} has malformed intertask metadata ({err}); it may be corrupted") from None
    if meta.get("format") not in (FORMAT, TENSORS_ONLY_FORMAT):
        raise IntertaskError(f"{path} has prompt format {meta.get('format')!r}; this intertask reads {FORMAT} and "
                             f"{TENSORS_ONLY_FORMAT}; train it again")
    covered = meta if meta["format"] == FORMAT else None
    if artifact_sha256(tensors, covered) != meta.get("sha256"):
        raise IntertaskError(f"{path} fails its checksum: the file is corrupted or was edited; train it again")
    problem = field_problem(meta, _FIELDS, _REQUIRED) or _tensor_problem(tensors)
    if problem:
        raise IntertaskError(f"{path}: {problem}; the file is corrupted or was edited, train it again")
    try:
        config = TrainConfig.from_dict(meta["config"])
    except (ValueError, KeyError, TypeError, IntertaskError) as err:
        raise IntertaskError(f"{path} has malformed intertask metadata ({err}); it may be corrupted") from None
    backbone, hidden, shape = meta["backbone"], meta["hidden_size"], meta["prompt_shape"]
    prompt = tensors.get("prompt")
    if prompt is None or list(prompt.shape) != shape or prompt.ndim != 2 or shape[1] != hidden:
        got = None if prompt is None else list(prompt.shape)
        raise IntertaskError(f"{path}: prompt has shape {got}, its metadata says {shape} with hidden size {hidden}")
    if expect_backbone is not None and backbone != expect_backbone:
        raise IntertaskError(f"backbone {expect_backbone!r} does not fit {path}: it holds a prompt for backbone "
                             f"{backbone!r}; use backbone {backbone} or a prompt trained on {expect_backbone}",
                             "backbone")
    return PromptArtifact(
        path=path, prompt=prompt, backbone=backbone, hidden_size=hidden, config=config,
        head={k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")},
        snapshots={int(k.split(".", 1)[1]): v for k, v in tensors.items() if k.startswith("snapshot.")},
        run_id=meta.get("run_id", ""), task_name=meta.get("task_name", ""), seed=meta.get("seed", 0),
        best_step=meta.get("best_step", 0), validation_score=float(meta.get("validation_score", "nan")),
        test_score=float(meta.get("test_score", "nan")), test_metrics=meta.get("test_metrics", {}),
        history=[tuple(h) for h in meta.get("history", [])], sha256=meta["sha256"],
    )


_TASK_TYPES = {"encoder": "FEATURE_EXTRACTION", "decoder": "CAUSAL_LM", "seq2seq": "SEQ_2_SEQ_LM"}


def export_peft(artifact: PromptArtifact | str | Path, out_dir, backbone=None) -> Path:
    """Write a PEFT prompt-tuning adapter for `artifact` into `out_dir`; return `out_dir`.

    The adapter is made by PEFT itself (`get_peft_model` on the backbone, the prompt copied into
    its prompt encoder, `save_pretrained`), so `PeftModel.from_pretrained(model, out_dir)` loads
    it. An encoder's task head is not part of PEFT's format; it is written next to the adapter as
    `intertask_head.safetensors`. `backbone` defaults to `load_backbone(artifact.backbone)`.
    """
    from peft import PromptTuningConfig, get_peft_model
    from safetensors.torch import save

    if not isinstance(artifact, PromptArtifact):
        artifact = load_artifact(artifact)
    out_dir = Path(out_dir)
    if os.path.lexists(out_dir) and (out_dir.is_symlink() or not out_dir.is_dir()):
        check_output_file(out_dir, "out_dir")  # a path below a file, a device, a FIFO, a symlink
        raise IntertaskError(f"out_dir {str(out_dir)!r} is a file; give a new folder for the adapter", "out_dir")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise IntertaskError(f"out_dir {str(out_dir)!r} exists and is not empty; choose a new folder for the adapter",
                             "out_dir")
    if backbone is None:
        from intertask.backbones import load_backbone

        backbone = load_backbone(artifact.backbone)
    if backbone.name != artifact.backbone or backbone.hidden_size != artifact.hidden_size:
        raise IntertaskError(f"the prompt was trained on {artifact.backbone!r} (hidden size {artifact.hidden_size}), "
                             f"not on {backbone.name!r} (hidden size {backbone.hidden_size})")
    P = artifact.prompt.shape[0]
    backbone.check_fits(P, 1, where=f"{artifact.path}: the prompt's ")  # as `train --init-from` refuses it
    config = PromptTuningConfig(task_type=_TASK_TYPES[backbone.kind], num_virtual_tokens=P,
                                token_dim=artifact.hidden_size, num_transformer_submodules=1)
    with warnings.catch_warnings():  # transformers' own deprecation notices inside PEFT
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(backbone.model, config)
    with torch.no_grad():
        model.prompt_encoder["default"].embedding.weight.copy_(artifact.prompt)
    with folder_beside(out_dir, "out_dir") as tmp:
        model.save_pretrained(str(tmp))
        if artifact.head:
            (tmp / "intertask_head.safetensors").write_bytes(save({k: v.contiguous() for k, v in artifact.head.items()}))
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    return out_dir
