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
`TrainConfig` fields over `training.options`, for that phase only, e.g. `head_init = "probe"`).
Transfers are the full product source × source_seed × target × target_seed, each starting from
the source run's best prompt; with `transfer_source = "best_seed"` only each source's seed with the
best validation score transfers (the other seeds are trained and recorded: the source's seed spread).
The config classes check their values when built, from TOML or in code (`__post_init__`);
`StudyConfig.from_toml` also rejects unknown keys, and `check_tasks` checks the task names against
the registry; each raises `IntertaskError` with one line naming the key and the fix.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from intertask.errors import IntertaskError, did_you_mean
from intertask.tasks.registry import known_names
from intertask.training.config import MAX_SEED, TrainConfig
MAX_RUNS = 100_000  # runs one study may plan (the paper's 13 x 10 x 3 grid plans 429; planning is ~1 ms a run)

TRANSFER_SOURCES = ("each_seed", "best_seed")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ConfigError(IntertaskError):
    """A bad value in a study config: `key` names the setting (dotted inside a table)."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"'{key}' {problem}")


@contextlib.contextmanager
def _inside(table: str):
    """Re-raise a `ConfigError` of a nested config with its table's name in front of the key."""
    try:
        yield
    except ConfigError as err:
        raise ConfigError(f"{table}.{err.key}", err.problem) from None


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

    def __post_init__(self) -> None:
        _positive_int(self.steps, "steps")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
            raise ConfigError("learning_rate", f"must be a number > 0, got {rate!r}")
        object.__setattr__(self, "learning_rate", float(rate))
        for key in ("batch_size", "eval_every"):
            if getattr(self, key) is not None:
                _positive_int(getattr(self, key), key)
        object.__setattr__(self, "snapshot_steps", tuple(sorted(set(_int_list(self.snapshot_steps, "snapshot_steps")))))
        late = [s for s in self.snapshot_steps if s > self.steps]
        if late:
            raise ConfigError("snapshot_steps", f"{late} exceed its {self.steps} steps")
        if not isinstance(self.options, dict):
            raise ConfigError("options", "must be a table of TrainConfig fields")


@dataclass(frozen=True)
class TrainingConfig:
    """Settings shared by every run of the study; `options` are extra `TrainConfig` fields."""

    prompt_length: int = 20
    max_length: int = 64
    batch_size: int = 16
    eval_every: int = 50
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("prompt_length", "max_length", "batch_size", "eval_every"):
            _positive_int(getattr(self, key), key)
        if not isinstance(self.options, dict):
            raise ConfigError("options", "must be a table of TrainConfig fields")


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: the grid (sources × targets × seeds) and how each run trains.

    Every value is checked when the config is built, from TOML or in code; a bad one raises
    `ConfigError` naming its key. `targets` may be empty: a sources-only study (what
    `intertask library build` runs) trains the source prompts alone.
    """

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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError("name", f"must be letters, digits, '_', '-' or '.', got {self.name!r}")
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ConfigError("backbone", f"must be a non-empty string, got {self.backbone!r}")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ConfigError("device", f"must be one of auto, cpu, cuda, cuda:N, mps, got {self.device!r}")
        object.__setattr__(self, "sources", _task_names(self.sources, "sources", allow_empty=False))
        object.__setattr__(self, "targets", _task_names(self.targets, "targets", allow_empty=True))
        for key in ("source_seeds", "target_seeds"):
            seeds = _int_list(getattr(self, key), key)
            if not seeds:
                raise ConfigError(key, "is empty; give at least one seed")
            if max(seeds) > MAX_SEED:
                raise ConfigError(key, f"holds seed {max(seeds)}; seeds must lie in [0, {MAX_SEED}]")
            repeated = _repeated(seeds)
            if repeated:
                raise ConfigError(key, f"repeats a seed: {', '.join(map(str, repeated))}")
            object.__setattr__(self, key, seeds)
        runs = self.planned_runs()
        if runs > MAX_RUNS:
            raise IntertaskError(f"the grid plans {runs:,} runs ({len(self.sources)} sources x "
                                 f"{len(self.source_seeds)} seeds, {len(self.targets)} targets x "
                                 f"{len(self.target_seeds)} seeds, and their "
                                 f"transfers), more than the {MAX_RUNS:,} one study may hold; split it into smaller "
                                 "studies over one store")
        if self.transfer_source not in TRANSFER_SOURCES:
            raise ConfigError("transfer_source", f"must be one of {', '.join(TRANSFER_SOURCES)}, "
                                                 f"got {self.transfer_source!r}")
        _positive_int(self.pack_size, "pack_size")
        for key, kind in (("source_training", PhaseConfig), ("target_training", PhaseConfig),
                          ("training", TrainingConfig)):
            if not isinstance(getattr(self, key), kind):
                raise ConfigError(key, f"must be a {kind.__name__}, got {type(getattr(self, key)).__name__}")
        if self.source_training.snapshot_steps:
            raise ConfigError("source_training.snapshot_steps", "is not used; snapshots belong to target_training")
        for key in ("source_training", "target_training"):
            phase = getattr(self, key)
            eval_every = phase.eval_every or self.training.eval_every
            if eval_every > phase.steps:
                raise ConfigError(key, f"evaluates every {eval_every} steps but trains only {phase.steps}; "
                                       "lower eval_every or raise steps")
        options = self.task_options
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise ConfigError("task_options", 'must hold one table per task, e.g. [task_options."hf:glue:rte"]')
        unused = sorted(set(options) - set(self.sources) - set(self.targets))
        if unused:
            raise ConfigError("task_options", f"has options for {unused[0]!r}, which is neither a source nor a target")
        for key, seeds in (("source_training", self.source_seeds), ("target_training", self.target_seeds)):
            try:  # every option checked now, by TrainConfig itself, not when the study is planned
                resolve_train_config(self, getattr(self, key), seeds[0], snapshots=key == "target_training")
            except IntertaskError as err:
                raise IntertaskError(f"'{key}.options' (over 'training.options'): {err}") from None
        object.__setattr__(self, "task_options", {name: dict(value) for name, value in options.items()})

    def planned_runs(self) -> int:
        """Runs the study plans at most: S x A sources, T x B baselines, and S x A x T x B transfers
        (S x T x B with `transfer_source = "best_seed"`); see `intertask.study.plan`."""
        sources, baselines = len(self.sources) * len(self.source_seeds), len(self.targets) * len(self.target_seeds)
        per_source = 1 if self.transfer_source == "best_seed" else len(self.source_seeds)
        return sources + baselines + len(self.sources) * per_source * baselines

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
        except RecursionError:  # tomllib recurses once per nested array or inline table
            raise IntertaskError(f"study config {str(path)!r} nests arrays or tables too deeply to read; "
                                 "a study config needs at most a few levels") from None
        except UnicodeDecodeError:
            raise IntertaskError(f"study config {str(path)!r} is not UTF-8 text") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: dict, where: str = "study config") -> "StudyConfig":
        """Build from plain data (parsed TOML or `to_dict()` output); errors start with `where`."""
        try:
            if not isinstance(data, dict):
                raise IntertaskError("expected a table of settings")
            top = _check_keys(data, _TOP_KEYS, "")
            for required in ("name", "sources", "targets", "source_training", "target_training"):
                if required not in top:
                    raise IntertaskError(f"missing required key {required!r}")
            with _inside("training"):
                training = TrainingConfig(**_check_keys(top.get("training", {}), _TRAINING_KEYS, "training."))
            phases = {}
            for key in ("source_training", "target_training"):
                table = _check_keys(top[key], _PHASE_KEYS, f"{key}.")
                for required in ("steps", "learning_rate"):
                    if required not in table:
                        raise ConfigError(f"{key}.{required}", f"is missing; add e.g. {required} = "
                                                               f"{_EXAMPLES[required]} to [{key}]")
                with _inside(key):
                    phases[key] = PhaseConfig(**table)
            rest = {k: v for k, v in top.items() if k not in phases and k != "training"}
            return cls(**rest, **phases, training=training)
        except IntertaskError as err:
            raise IntertaskError(f"{where}: {err}") from None

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
        """Raise `IntertaskError` for a task name the registry does not know (with close names), a
        file or folder that does not exist or holds no data file `load_file` reads (checked without
        reading a row), or an `hf:` spec naming a local folder that does not exist.

        Names containing ':' or '/' are dataset specs or paths (hub datasets are fetched when the
        study runs). `known` defaults to the registry's names.
        """
        from intertask.tasks.loaders import check_data_path

        known = list(known) if known is not None else list(known_names())
        for key in ("sources", "targets"):
            for name in getattr(self, key):
                local = name[3:].partition(":")[0] if name.startswith("hf:") else name
                is_local = not name.startswith("hf:") or local.startswith(("/", ".", "~"))
                if any(c in name for c in ":/") and is_local and not Path(local).expanduser().exists():
                    raise IntertaskError(f"{key!r} names {name!r}, but {local!r} does not exist; check the path")
                if any(c in name for c in ":/") and not name.startswith("hf:"):
                    try:  # a file that is no data file (`../../etc/passwd`, a FIFO) fails now, not after training
                        check_data_path(Path(name).expanduser())
                    except IntertaskError as err:
                        raise IntertaskError(f"{key!r} names {name!r}: {err}") from None
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
_EXAMPLES = {"steps": 300, "learning_rate": 0.1}


def _check_keys(table, allowed, prefix: str) -> dict:
    if not isinstance(table, dict):
        raise IntertaskError(f"'{prefix.rstrip('.')}' must be a table")
    for key in table:
        if key not in allowed:
            raise IntertaskError(
                f"unknown key '{prefix}{key}'{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
            )
    return table


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value, key: str) -> None:
    if not _is_int(value) or value < 1:
        raise ConfigError(key, f"must be an integer >= 1, got {value!r}")


def _int_list(value, key: str) -> tuple[int, ...]:
    """`value` (a list or tuple of integers >= 0) as a tuple."""
    if not isinstance(value, (list, tuple)) or not all(_is_int(v) and v >= 0 for v in value):
        raise ConfigError(key, f"must be a list of integers >= 0, got {value!r}")
    return tuple(value)


def _task_names(value, key: str, allow_empty: bool) -> tuple[str, ...]:
    """`value` (a list or tuple of distinct task names) as a tuple."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, f"must be a list of task names, got {value!r}")
    if not value and not allow_empty:
        raise ConfigError(key, "is empty; list at least one task")
    dupes = _repeated(value)
    if dupes:
        raise ConfigError(key, f"lists {', '.join(dupes)} more than once")
    return tuple(value)


def _repeated(values, shown: int = 5) -> list:
    """The first `shown` values that occur more than once in `values`, sorted."""
    return sorted(value for value, count in Counter(values).items() if count > 1)[:shown]



_STUDY_FIELDS = ("backbone", "prompt_length", "max_length", "batch_size", "eval_every", "steps", "prompt_lr",
                 "snapshot_steps", "seed")


def resolve_train_config(config: StudyConfig, phase: PhaseConfig, seed: int, snapshots: bool):
    """The `TrainConfig` of one run of `phase` with `seed` (every default filled in): `training.options`,
    then `phase.options`, then the study's own keys; an option that sets one of those is refused."""
    shared = config.training
    clash = sorted((set(shared.options) | set(phase.options)) & set(_STUDY_FIELDS))
    if clash:
        raise IntertaskError(
            f"training options set {clash[0]!r}, which the study sets itself; use the study's own key instead"
        )
    return TrainConfig.from_dict({
        **shared.options,
        **phase.options,
        "backbone": config.backbone,
        "prompt_length": shared.prompt_length,
        "max_length": shared.max_length,
        "batch_size": phase.batch_size or shared.batch_size,
        "eval_every": phase.eval_every or shared.eval_every,
        "steps": phase.steps,
        "prompt_lr": phase.learning_rate,
        "snapshot_steps": tuple(phase.snapshot_steps) if snapshots else (),
        "seed": seed,
    })
