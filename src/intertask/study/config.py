"""The study configuration: which sources and targets, which seeds, how each phase trains.

A study is written as TOML (see `configs/*.toml`)::

    name = "quickstart"
    backbone = "minilm"
    device = "auto"                 # auto | cpu | cuda | cuda:N | mps
    sources = ["clinc", "mr_polarity"]
    targets = ["trec_coarse"]
    source_seeds = [0]              # seeds of the source prompts
    target_seeds = [0, 1, 2]        # seeds of baselines and transfers (as in the paper)
    transfer_source = "each_seed"   # each_seed | best_seed (transfer only from the source seed best on validation)
    pack_size = 16                  # runs trained together in one packed batch

    [training]                      # shared by every run
    prompt_length = 20
    max_length = 64
    batch_size = 16
    eval_every = 50
    options = {}                    # further `TrainConfig` fields, passed through unchanged

    [task_options."hf:nyu-mll/glue:rte"]   # keyword arguments of `get_task` for one task
    text_column = "sentence1"
    text_pair_column = "sentence2"

    [source_training]               # source prompts
    steps = 300
    learning_rate = 0.3             # the prompt's learning rate (`TrainConfig.prompt_lr`)

    [target_training]               # no-transfer baselines and transfers
    steps = 150
    learning_rate = 0.3
    snapshot_steps = [25, 50]       # baselines keep these early prompts (0 = the initial one)

Each phase table may also override `batch_size` and `eval_every`, and add `options` (further
`TrainConfig` fields that override `training.options` for that phase, e.g. `head_init = "probe"`). Transfers are the full
product source × source_seed × target × target_seed, each starting from the source run's best
prompt; with `transfer_source = "best_seed"` only the source seed with the best validation score
transfers (the others are trained and recorded: they measure the source's seed spread).
`StudyConfig.from_toml` validates structure and values; `check_tasks` validates the task names
against the registry; both raise `IntertaskError` with one line naming the key and the fix.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from intertask.errors import IntertaskError, did_you_mean

TRANSFER_SOURCES = ("each_seed", "best_seed")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PhaseConfig:
    """How one phase trains: `steps` optimiser steps at `learning_rate`.

    `batch_size` / `eval_every` of None inherit the shared `[training]` values.
    `snapshot_steps`: steps at which baselines keep a copy of the prompt (target phase only).
    `options`: `TrainConfig` fields for this phase only, over `training.options`.
    """

    steps: int
    learning_rate: float
    batch_size: int | None = None
    eval_every: int | None = None
    snapshot_steps: tuple[int, ...] = ()
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingConfig:
    """Settings shared by every run of the study; `options` are extra `TrainConfig` fields."""

    prompt_length: int = 20
    max_length: int = 64
    batch_size: int = 16
    eval_every: int = 50
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: the grid (sources × targets × seeds) and how each run trains."""

    name: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    source_training: PhaseConfig
    target_training: PhaseConfig
    backbone: str = "minilm"
    device: str = "auto"
    source_seeds: tuple[int, ...] = (0,)
    target_seeds: tuple[int, ...] = (0, 1, 2)
    transfer_source: str = "each_seed"
    pack_size: int = 16
    training: TrainingConfig = field(default_factory=TrainingConfig)
    task_options: dict = field(default_factory=dict)

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> "StudyConfig":
        """Read and validate a TOML study config; raise `IntertaskError` on any problem."""
        path = Path(path)
        if not path.is_file():
            raise IntertaskError(f"study config {str(path)!r} does not exist; pass the path of a .toml file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise IntertaskError(f"study config {str(path)!r} is not valid TOML: {err}") from None
        except UnicodeDecodeError:
            raise IntertaskError(f"study config {str(path)!r} is not UTF-8 text") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: dict, where: str = "study config") -> "StudyConfig":
        """Build from plain data (parsed TOML or `to_dict()` output), validating every key."""
        if not isinstance(data, dict):
            raise IntertaskError(f"{where}: expected a table of settings")
        top = _check_keys(data, _TOP_KEYS, where, "")
        for required in ("name", "sources", "targets", "source_training", "target_training"):
            if required not in top:
                raise IntertaskError(f"{where}: missing required key {required!r}")
        shared = _check_keys(top.get("training", {}), _TRAINING_KEYS, where, "training.")
        options = shared.get("options", {})
        if not isinstance(options, dict):
            raise IntertaskError(f"{where}: 'training.options' must be a table of TrainConfig fields")
        training = TrainingConfig(
            prompt_length=_int(shared, "prompt_length", where, "training.", 20),
            max_length=_int(shared, "max_length", where, "training.", 64),
            batch_size=_int(shared, "batch_size", where, "training.", 16),
            eval_every=_int(shared, "eval_every", where, "training.", 50),
            options=dict(options),
        )
        config = cls(
            name=_str(top, "name", where),
            sources=_names(top, "sources", where),
            targets=_names(top, "targets", where),
            source_training=_phase(top, "source_training", where),
            target_training=_phase(top, "target_training", where),
            backbone=_str(top, "backbone", where, "minilm"),
            device=_str(top, "device", where, "auto"),
            source_seeds=_seeds(top, "source_seeds", where, (0,)),
            target_seeds=_seeds(top, "target_seeds", where, (0, 1, 2)),
            transfer_source=_str(top, "transfer_source", where, "each_seed"),
            pack_size=_int(top, "pack_size", where, "", 16),
            training=training,
            task_options=_task_options(top, where),
        )
        config._check(where)
        return config

    def _check(self, where: str) -> None:
        if not _NAME.match(self.name):
            raise IntertaskError(f"{where}: name {self.name!r} must be letters, digits, '_', '-' or '.'")
        if self.transfer_source not in TRANSFER_SOURCES:
            raise IntertaskError(f"{where}: transfer_source {self.transfer_source!r} is not one of "
                                 f"{', '.join(TRANSFER_SOURCES)}")
        if not _DEVICE.match(self.device):
            raise IntertaskError(f"{where}: device {self.device!r} is not one of auto, cpu, cuda, cuda:N, mps")
        unused = sorted(set(self.task_options) - set(self.sources) - set(self.targets))
        if unused:
            raise IntertaskError(
                f"{where}: task_options for {unused[0]!r}, which is neither a source nor a target"
            )
        if self.source_training.snapshot_steps:
            raise IntertaskError(
                f"{where}: 'source_training.snapshot_steps' is not used; snapshots belong to target_training"
            )
        for phase_name in ("source_training", "target_training"):
            phase = getattr(self, phase_name)
            eval_every = phase.eval_every or self.training.eval_every
            if eval_every > phase.steps:
                raise IntertaskError(
                    f"{where}: '{phase_name}' evaluates every {eval_every} steps but trains only "
                    f"{phase.steps}; lower eval_every or raise steps"
                )
            late = [s for s in phase.snapshot_steps if s > phase.steps]
            if late:
                raise IntertaskError(
                    f"{where}: '{phase_name}.snapshot_steps' {late} exceed its {phase.steps} steps"
                )

    # ---- views ---------------------------------------------------------------------------
    def warnings(self) -> list[str]:
        """Legal but suspicious choices, one line each (shown before a study runs)."""
        found = []
        both = sorted(set(self.sources) & set(self.targets))
        if both:
            found.append(
                f"{', '.join(both)} listed as both source and target: the self-transfer "
                "is trained and kept in the matrix"
            )
        if len(self.target_seeds) < 3:
            found.append(f"only {len(self.target_seeds)} target seed(s): transfer gains are noisy, use >= 3")
        return found

    def check_tasks(self, known: list[str] | None = None) -> "StudyConfig":
        """Raise `IntertaskError` for a task name the registry does not know (with close names).

        Names containing ':' or '/' are dataset specs or paths, resolved when the study runs.
        `known` defaults to the registry's names.
        """
        from intertask.tasks.registry import known_names

        known = list(known) if known is not None else list(known_names())
        for key in ("sources", "targets"):
            for name in getattr(self, key):
                if not any(c in name for c in ":/") and name not in known:
                    raise IntertaskError(
                        f"unknown task {name!r} in {key!r}{did_you_mean(name, known)}; "
                        "`intertask tasks list` shows the known tasks"
                    )
        return self

    def to_dict(self) -> dict:
        """Plain data with sorted keys; `from_dict(to_dict())` gives an equal config."""
        data = asdict(self)
        for key in ("sources", "targets", "source_seeds", "target_seeds"):
            data[key] = list(data[key])
        for phase in ("source_training", "target_training"):
            data[phase] = {k: (list(v) if isinstance(v, tuple) else v)
                           for k, v in data[phase].items() if v is not None and v != {}}
        return json.loads(json.dumps(data, sort_keys=True))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "StudyConfig":
        return cls.from_dict(json.loads(text), where="study config (JSON)")


# ---- validation helpers ------------------------------------------------------------------
_TOP_KEYS = (
    "name", "backbone", "device", "sources", "targets", "source_seeds", "target_seeds", "transfer_source",
    "pack_size", "training", "source_training", "target_training", "task_options",
)
_TRAINING_KEYS = ("prompt_length", "max_length", "batch_size", "eval_every", "options")
_PHASE_KEYS = ("steps", "learning_rate", "batch_size", "eval_every", "snapshot_steps", "options")


def _check_keys(table, allowed, where: str, prefix: str) -> dict:
    if not isinstance(table, dict):
        raise IntertaskError(f"{where}: '{prefix.rstrip('.')}' must be a table")
    for key in table:
        if key not in allowed:
            raise IntertaskError(
                f"{where}: unknown key '{prefix}{key}'{did_you_mean(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
    return table


def _int(table: dict, key: str, where: str, prefix: str, default=None, minimum: int = 1) -> int:
    value = table.get(key, default)
    if value is None:
        raise IntertaskError(f"{where}: missing required key '{prefix}{key}'")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise IntertaskError(f"{where}: '{prefix}{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def _str(table: dict, key: str, where: str, default=None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise IntertaskError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _names(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = table.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise IntertaskError(f"{where}: {key!r} must be a list of task names, got {value!r}")
    if not value:
        raise IntertaskError(f"{where}: {key!r} is empty; list at least one task")
    dupes = sorted({v for v in value if value.count(v) > 1})
    if dupes:
        raise IntertaskError(f"{where}: {key!r} lists {', '.join(dupes)} more than once")
    return tuple(value)


def _seeds(table: dict, key: str, where: str, default) -> tuple[int, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                             for v in value):
        raise IntertaskError(f"{where}: {key!r} must be a list of integers >= 0, got {value!r}")
    if not value:
        raise IntertaskError(f"{where}: {key!r} is empty; give at least one seed")
    if len(set(value)) != len(value):
        raise IntertaskError(f"{where}: {key!r} repeats a seed: {value}")
    return tuple(value)


def _task_options(top: dict, where: str) -> dict:
    options = top.get("task_options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise IntertaskError(f"{where}: 'task_options' must hold one table per task, e.g. [task_options.\"hf:glue:rte\"]")
    return {name: dict(value) for name, value in options.items()}


def _phase(top: dict, key: str, where: str) -> PhaseConfig:
    table = _check_keys(top[key], _PHASE_KEYS, where, f"{key}.")
    rate = table.get("learning_rate")
    if rate is None:
        raise IntertaskError(f"{where}: '{key}.learning_rate' is missing; add e.g. learning_rate = 0.1 to [{key}]")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise IntertaskError(f"{where}: '{key}.learning_rate' must be a number > 0, got {rate!r}")
    snapshots = table.get("snapshot_steps", [])
    if not isinstance(snapshots, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in snapshots
    ):
        raise IntertaskError(f"{where}: '{key}.snapshot_steps' must be a list of integers >= 0, got {snapshots!r}")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise IntertaskError(f"{where}: '{key}.options' must be a table of TrainConfig fields")
    return PhaseConfig(
        options=dict(options),
        steps=_int(table, "steps", where, f"{key}."),
        learning_rate=float(rate),
        batch_size=_int(table, "batch_size", where, f"{key}.") if "batch_size" in table else None,
        eval_every=_int(table, "eval_every", where, f"{key}.") if "eval_every" in table else None,
        snapshot_steps=tuple(sorted(set(snapshots))),
    )
