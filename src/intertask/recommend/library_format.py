"""The source library's on-disk format: file names, the fields each JSON file must hold and their
checks (`*_problem`: the first field missing or of the wrong type, described, or None). The layout is
described in `intertask.recommend.library`."""

from __future__ import annotations

from intertask.checks import field_problem, is_finite, is_integer, is_number, is_text, list_of, object_of
from intertask.errors import IntertaskError
from intertask.recommend import rule
from intertask.training.config import TrainConfig

FORMAT_VERSION = 1
FILES = ("prompts.safetensors", "profiles.safetensors", "profiles.json", "history.json")
ESM_FILE = "esm_maps.safetensors"
COMBINATION_FILE = "combination.json"
FINGERPRINT_FILE = "fingerprints.safetensors"
OPTIONAL_FILES = (ESM_FILE, COMBINATION_FILE, FINGERPRINT_FILE)
VOCAB_SIZE = 2000
MAX_VOCABULARY_COUNT = 20_000_000  # words counted in one source's vocabulary; `profile()` spells them all out
# TrainConfig fields of the study's target phase that recommend's target runs reuse (the rest is set per run).
TRAINING_FIELDS = ("max_length", "batch_size", "prompt_lr", "head_lr", "optimizer", "init", "weight_decay",
                   "grad_clip", "head_init", "class_weights")
# The source protocol (manifest "source_training"): the seeds each source trains with (the best on
# validation transfers) and the TrainConfig fields of a source run other than seed, backbone and
# prompt_length. This default is configs/library.toml's [source_training] with its [training]
# settings, the protocol of the shipped library's sources (a library written before the field).
DEFAULT_SOURCE_TRAINING = {
    "seeds": [0, 1],
    "train": {"steps": 200, "patience": 2, "eval_every": 25, "max_eval_examples": 300, "prompt_lr": 0.1,
              "head_lr": 0.01, "batch_size": 16, "max_length": 64, "init": "vocab", "head_init": "random",
              "class_weights": False, "optimizer": "adamw", "weight_decay": 0.0, "warmup_steps": 0,
              "grad_clip": 1.0, "snapshot_steps": []},
}


def fingerprint_key(source: str) -> str:
    """The name of a source's text fingerprints in fingerprints.safetensors."""
    return f"fp/{source}"


def _positive(value) -> bool:
    return is_integer(value) and value > 0


def _count(value) -> bool:
    return is_integer(value) and value >= 0


# field -> (test, what it must be), for manifest.json, its backbone and sources and profiles.json
_MANIFEST = {
    "files": (object_of(is_text), "an object of checksums"),
    "backbone": (lambda v: isinstance(v, dict), "an object"),
    "sources": (list_of(lambda v: isinstance(v, dict)), "a list of objects"),
    "training": (lambda v: isinstance(v, dict) and set(v) <= set(TRAINING_FIELDS),
                 f"an object of {', '.join(TRAINING_FIELDS)}"),
    "source_training": (lambda v: isinstance(v, dict) and set(v) == {"seeds", "train"}
                        and list_of(is_integer)(v["seeds"]) and len(v["seeds"]) > 0 and isinstance(v["train"], dict),
                        "an object of seeds (a non-empty list of integers) and train (TrainConfig fields)"),
    "created_at": (is_text, "a string"),
    "intertask_version": (is_text, "a string"),
}
_BACKBONE = {"name": (is_text, "a string"), "hidden_size": (_positive, "a positive integer"),
             "prompt_length": (_positive, "a positive integer")}
_SOURCE = {"name": (is_text, "a string"), "n_train": (_count, "a count"),
           "tags": (list_of(is_text), "a list of strings"),
           "seeds": (lambda v: list_of(is_integer)(v) and len(v) > 0, "a non-empty list of integers"),
           "scores": (object_of(is_number), "an object of numbers")}
_PROFILE = {"n_train": (_count, "a count"),
            "vocabulary": (list_of(lambda p: isinstance(p, list) and len(p) == 2 and is_text(p[0]) and _positive(p[1])),
                           "a list of [word, count] pairs")}

MAX_COMBINATION_BYTES = 1_000_000  # a rule is a handful of numbers per candidate and one reason
MAX_REASON_CHARS = 10_000
_MODEL = {"features": (lambda v: list_of(is_text)(v) and len(v) > 0, "a non-empty list of strings"),
          "weights": (list_of(is_finite), "a list of finite numbers"),
          "intercept": (is_finite, "a finite number"), "alpha": (is_finite, "a finite number")}
# combination.json: the ranking rule of `intertask.recommend.rule` (`rule.FORMAT`)
_RULE = {"format": (lambda v: v == rule.FORMAT, f"{rule.FORMAT!r}"), "rule": (is_text, "a string"),
         "fallback": (is_text, "a string"), "members": (list_of(is_text), "a list of method names"),
         "reason": (lambda v: is_text(v) and len(v) <= MAX_REASON_CHARS,
                    f"a string of at most {MAX_REASON_CHARS} characters"),
         "metric": (is_text, "a string"), "n_targets": (is_integer, "an integer"),
         "min_similarity": (lambda v: v is None or is_finite(v), "a number or null"),
         "model": (lambda v: v is None or isinstance(v, dict), "an object or null"),
         "candidates": (object_of(lambda c: isinstance(c, dict) and all(is_number(x) for x in c.values())),
                        "an object of {metric: number} per rule"),
         "calibration": (object_of(is_finite), "an object of numbers"),
         "budget_steps": (is_integer, "an integer"), "target_runs": (is_integer, "an integer")}


def combination_problem(combination) -> str | None:
    """The first problem of a stored ranking rule (combination.json, `intertask.recommend.rule`), described;
    or None. `format`, `rule`, `fallback`, `members` and `reason` are required; `rule` and `fallback` name a
    rule or a member, the fallback reads no history, and a `learned` rule has a model with one finite weight
    per feature."""
    if not isinstance(combination, dict):
        return f"must be an object, got {type(combination).__name__}"
    problem = field_problem(combination, _RULE, required=("format", "rule", "fallback", "members", "reason"))
    if problem:
        return problem
    known = {rule.MEAN_RANK, *rule.HISTORY_RULES, *combination["members"]}
    for key in ("rule", "fallback"):
        if combination[key] not in known:
            return f"field {key!r} names {combination[key]!r}, which is neither a rule nor one of its members"
    if combination["fallback"] in rule.HISTORY_RULES:
        return f"field 'fallback' must not read the history, got {combination['fallback']!r}"
    if combination["rule"] != rule.LEARNED:
        return None
    model = combination.get("model")
    problem = field_problem(model, _MODEL, required=tuple(_MODEL), where="model.")
    if problem is None and len(model["weights"]) != len(model["features"]):
        problem = f"field 'model.weights' must hold one weight per feature ({len(model['features'])})"
    return problem


def manifest_problem(manifest: dict) -> str | None:
    """The first field of manifest.json that is missing or of the wrong type, described; or None."""
    problem = field_problem(manifest, _MANIFEST, required=("files", "backbone", "sources"))
    if problem:
        return problem
    problems = (field_problem(manifest["backbone"], _BACKBONE, required=tuple(_BACKBONE), where="backbone."),
                *(field_problem(source, _SOURCE, required=("name", "n_train", "seeds"), where=f"sources[{i}].")
                  for i, source in enumerate(manifest["sources"])))
    problem = next((p for p in problems if p), None)
    if problem:
        return problem
    try:
        TrainConfig.from_dict(manifest.get("training") or {})
    except (IntertaskError, TypeError, ValueError) as err:
        return f"field 'training' holds a bad value ({err})"
    source_train = manifest.get("source_training", {}).get("train", {})
    if set(source_train) & {"seed", "backbone", "prompt_length"}:
        return "field 'source_training.train' sets seed, backbone or prompt_length, which the library sets itself"
    try:
        TrainConfig.from_dict(source_train)
    except (IntertaskError, TypeError, ValueError) as err:
        return f"field 'source_training.train' holds a bad value ({err})"
    return None


def profiles_problem(profiles) -> str | None:
    """The first source entry of profiles.json of the wrong type or counting more than
    `MAX_VOCABULARY_COUNT` words, described; or None."""
    if not isinstance(profiles, dict):
        return f"must be an object of sources, got {type(profiles).__name__}"
    for name, entry in profiles.items():
        problem = field_problem(entry, _PROFILE, required=tuple(_PROFILE), where=f"{name}.")
        if problem:
            return problem
        total = sum(count for _, count in entry["vocabulary"])
        if total > MAX_VOCABULARY_COUNT:
            return (f"field '{name}.vocabulary' counts {total} words, more than the {MAX_VOCABULARY_COUNT} "
                    "a library may hold")
    return None


def history_problem(rows) -> str | None:
    """The first problem of history.json's shape (a list of `TransferMatrix` row objects, each with a baseline),
    described; or None. The rows' values are checked as every matrix's (`TransferMatrix.from_history`)."""
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return f"must be a list of transfer objects, got {type(rows).__name__}"
    return next((f"field '[{i}].baseline' is missing" for i, row in enumerate(rows) if row.get("baseline") is None),
                None)
