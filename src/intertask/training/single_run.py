"""`train_one`: prompt-tune one task from a name (the API behind `intertask train`).

Resolves the task, the backbone and an optional initial prompt (prompt transfer), trains one
`RunSpec` with `train_packed`, and saves the best prompt when asked.
"""

from __future__ import annotations

from pathlib import Path

from intertask.backbones import load_backbone, resolve_device
from intertask.errors import IntertaskError
from intertask.paths import check_output_file
from intertask.tasks.registry import get_task
from intertask.training.artifacts import load_artifact, save_artifact
from intertask.training.config import RunResult, RunSpec, TrainConfig
from intertask.training.packed import train_packed


def _check_out(out: Path) -> Path:
    out = Path(out)
    if out.suffix != ".safetensors" or out.is_dir():
        raise IntertaskError(f"out {out} must be a file name ending in .safetensors", "out")
    return check_output_file(out, "out")


def train_one(task: str, seed: int = 0, backbone: str = "minilm", init_from: Path | None = None,
              out: Path | None = None, device: str = "auto", progress=None, **config) -> RunResult:
    """Train one prompt on `task` and return its `RunResult`.

    `init_from` is a prompt file to start from (its length becomes `prompt_length` unless given);
    `config` holds further `TrainConfig` fields (None values keep the defaults); `progress` is a
    `progress(event, done, total)` callback for `train_packed`. Everything (output path, task,
    backbone, prompt file) is checked before training; `out` is written only at the end.
    """
    out = _check_out(out) if out is not None else None
    target = get_task(task)  # a misspelt task fails before the (slow) backbone loads
    device = resolve_device(device)
    model = load_backbone(backbone, device=device)
    init = load_artifact(init_from, expect_backbone=model.name) if init_from is not None else None
    if init is not None and config.get("prompt_length") is None:
        config["prompt_length"] = init.prompt.shape[0]
    settings = {k: v for k, v in config.items() if v is not None}
    cfg = TrainConfig(backbone=model.name, seed=seed, **settings)
    model.check_fits(cfg.prompt_length, cfg.max_length)
    spec = RunSpec(f"{task}-seed{seed}", target, cfg, init_prompt=None if init is None else init.prompt)
    result = train_packed([spec], model, device=device, progress=progress)[0]
    if out is not None:
        save_artifact(out, result, model.name)
    return result
