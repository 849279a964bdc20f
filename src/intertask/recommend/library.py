"""A source library: trained source prompts plus what the selectors need, in one versioned folder.

Layout of a library directory (format version `FORMAT_VERSION`)::

    manifest.json          format_version, backbone {name, hidden_size, prompt_length}, created_at,
                           intertask_version, training (TrainConfig fields the targets reuse), sources [{name, n_train, tags, seeds, scores,
                           best_seed}], historical targets, files {name: sha256}
    prompts.safetensors    "<source>/<seed>" -> [P, H] float32, the source's trained prompt per seed
    profiles.safetensors   "source/<name>" -> [D] text-embedding centroid of a source;
                           "target/<name>" -> [D] centroid of a historical target (when known)
    profiles.json          {source: {"n_train": int, "vocabulary": [[word, count], ...]}}: the
                           `VOCAB_SIZE` most frequent words of the source's training texts
    history.json           [{target, source, seed, score, baseline, gain, floor, learned}] historical
                           transfers on (target, seed) cases whose baseline cleared its floor
    esm_maps.safetensors   (optional) "esm/<source>" -> [H + 1, H] float32, the source's embedding
                           space map for ESM-LogME (`intertask.recommend.esm_maps`)
    combination.json       (optional) the selector combination learned from the history
                           (`intertask.recommend.combination`)

`build_library` writes the whole folder into a temporary sibling and renames it into place, so a
crash or a full disk never leaves a half library (`paths.folder_beside`); `load_library` verifies
every file's sha256 and the backbone. An optional file can be added to an existing library later
(`add_library_file`): it and the new manifest.json (its checksum added, every other entry kept)
are written first, then renamed into place.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.checks import field_problem, is_finite, is_integer, is_number, is_text, list_of, object_of
from intertask.errors import IntertaskError
from intertask.paths import atomic_output, folder_beside, is_input_file, sha256_file
from intertask.selection.base import TaskProfile
from intertask.selection.embedding_free import ranked_words

FORMAT_VERSION = 1
FILES = ("prompts.safetensors", "profiles.safetensors", "profiles.json", "history.json")
ESM_FILE = "esm_maps.safetensors"
COMBINATION_FILE = "combination.json"
OPTIONAL_FILES = (ESM_FILE, COMBINATION_FILE)
VOCAB_SIZE = 2000
MAX_VOCABULARY_COUNT = 20_000_000  # words counted in one source's vocabulary; `profile()` spells them all out
HISTORY_COLUMNS = ["target", "source", "seed", "score", "baseline", "gain", "floor", "learned"]
# TrainConfig fields of the study's target phase that recommend's target runs reuse (the rest is set per run).
TRAINING_FIELDS = ("max_length", "batch_size", "prompt_lr", "head_lr", "optimizer", "init", "weight_decay",
                   "grad_clip", "head_init", "class_weights")


def vocabulary_counts(texts, top_k: int = VOCAB_SIZE) -> list[tuple[str, int]]:
    """The `top_k` most frequent words of `texts` with their counts (same words as `vocab_overlap`)."""
    return ranked_words(texts)[:top_k]


@dataclass
class LibrarySource:
    """One source of a library: its prompts per seed, scores per seed, and selector profile data."""

    name: str
    n_train: int
    tags: tuple[str, ...]
    prompts: dict[int, np.ndarray]  # seed -> [P, H]
    scores: dict[int, float]  # seed -> validation score (0-100)
    text_embedding: np.ndarray  # [D]
    vocabulary: list[tuple[str, int]]
    esm_map: np.ndarray | None = None  # [H + 1, H], the best seed's embedding space map

    @property
    def best_seed(self) -> int:
        """The seed with the highest validation score (lowest seed on ties): its prompt is used."""
        return min(self.prompts, key=lambda s: (-self.scores.get(s, float("-inf")), s))

    @property
    def prompt(self) -> np.ndarray:
        return self.prompts[self.best_seed]

    def profile(self) -> TaskProfile:
        """The `TaskProfile` selectors read; texts are rebuilt from the word counts."""
        texts = [" ".join([word] * count) for word, count in self.vocabulary]
        return TaskProfile(name=self.name, n_train=self.n_train, texts=texts, tags=self.tags,
                           prompt=self.prompt, text_embedding=self.text_embedding, esm_map=self.esm_map)


@dataclass
class Library:
    """A loaded (or about to be written) source library; see the module docstring."""

    backbone: dict  # {name, hidden_size, prompt_length}
    sources: list[LibrarySource]
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))
    target_embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # the source runs' shared TrainConfig fields
    combination: dict | None = None  # the learned selector combination (combination.json)
    created_at: str = ""
    intertask_version: str = ""
    path: Path | None = None

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def source(self, name: str) -> LibrarySource:
        return self.sources[self.source_names.index(name)]

    def profiles(self) -> list[TaskProfile]:
        return [s.profile() for s in self.sources]

    def manifest(self, checksums: dict[str, str]) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "backbone": self.backbone,
            "created_at": self.created_at,
            "intertask_version": self.intertask_version,
            "training": self.training,
            "sources": [{"name": s.name, "n_train": s.n_train, "tags": list(s.tags),
                         "seeds": sorted(s.prompts), "best_seed": s.best_seed,
                         "scores": {str(k): v for k, v in sorted(s.scores.items())}}
                        for s in self.sources],
            "history_targets": sorted(self.history["target"].unique().tolist()) if len(self.history) else [],
            "files": checksums,
        }


# ---- writing ------------------------------------------------------------------------------
def _write_files(library: Library, folder: Path) -> dict[str, str]:
    from safetensors.numpy import save_file

    prompts = {f"{s.name}/{seed}": np.ascontiguousarray(p, dtype=np.float32)
               for s in library.sources for seed, p in sorted(s.prompts.items())}
    save_file(prompts, str(folder / "prompts.safetensors"))
    vectors = {f"source/{s.name}": np.ascontiguousarray(s.text_embedding, dtype=np.float32)
               for s in library.sources}
    vectors.update({f"target/{n}": np.ascontiguousarray(v, dtype=np.float32)
                    for n, v in sorted(library.target_embeddings.items())})
    save_file(vectors, str(folder / "profiles.safetensors"))
    profiles = {s.name: {"n_train": s.n_train, "vocabulary": [[w, int(c)] for w, c in s.vocabulary]}
                for s in library.sources}
    (folder / "profiles.json").write_text(json.dumps(profiles, sort_keys=True))
    history = library.history.reindex(columns=HISTORY_COLUMNS).to_dict(orient="records") if len(library.history) else []
    (folder / "history.json").write_text(json.dumps(history, indent=0))
    written = list(FILES)
    if any(s.esm_map is not None for s in library.sources):
        _write_esm_maps(library.sources, folder / ESM_FILE)
        written.append(ESM_FILE)
    if library.combination is not None:
        (folder / COMBINATION_FILE).write_text(json.dumps(library.combination, indent=1, sort_keys=True))
        written.append(COMBINATION_FILE)
    return {name: sha256_file(folder / name) for name in written}


def _write_esm_maps(sources: list[LibrarySource], path: Path) -> None:
    from safetensors.numpy import save_file

    missing = [s.name for s in sources if s.esm_map is None]
    if missing:
        raise IntertaskError(f"every source needs an embedding space map, or none; missing: {', '.join(missing)}")
    save_file({f"esm/{s.name}": np.ascontiguousarray(s.esm_map, dtype=np.float32) for s in sources}, str(path))


def add_library_file(path: str | Path, name: str, write) -> Path:
    """Add or replace the optional file `name` (one of `OPTIONAL_FILES`) of the library at `path`.

    The library is verified first; `write(tmp)` writes the file to a temporary path and manifest.json
    is written beside it with the file's checksum (every other entry kept as it was); then both are
    renamed into place. A write error (disk full) is one line and changes nothing.
    Returns the file's path.
    """
    if name not in OPTIONAL_FILES:
        raise ValueError(f"{name!r} is not an optional library file")
    load_library(path)
    folder = Path(path)
    manifest = json.loads((folder / "manifest.json").read_text())
    # Both files are written before either is renamed (the file first, the manifest last), so a
    # full disk leaves the library as it was.
    with atomic_output(folder / "manifest.json", "library") as new_manifest, \
            atomic_output(folder / name, "library") as tmp:
        write(tmp)
        manifest["files"][name] = sha256_file(tmp)
        new_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return folder / name


def check_library_out(out: Path) -> bool:
    """Raise unless `out` may receive a library (absent, empty, a library, or only a `.store`);
    return whether it exists. Called before any training, and again just before writing."""
    if not out.exists():
        if any(p.exists() and not p.is_dir() for p in out.parents):
            raise IntertaskError(f"--out {str(out)!r}: a file stands where its folder should be; choose another --out")
        return False
    if not out.is_dir():
        raise IntertaskError(f"--out {str(out)!r} is a file; give a directory for the library")
    entries = {p.name for p in out.iterdir()}
    if entries and "manifest.json" not in entries and entries != {".store"}:
        raise IntertaskError(f"--out {str(out)!r} exists and is not a library; choose a new or empty directory")
    return True


def write_library(library: Library, out_dir: str | Path) -> Path:
    """Write `library` to `out_dir` atomically (temporary sibling, then rename); returns the path.

    An existing `out_dir` is replaced only when it is a library (has `manifest.json`), is empty, or
    holds only a `.store` folder (which is kept); otherwise nothing is written.
    """
    out = Path(out_dir)
    keep = [".store"] if check_library_out(out) and (out / ".store").exists() else []
    old = out.parent / f".{out.name}.old{os.getpid()}"
    with folder_beside(out, "--out") as tmp:
        checksums = _write_files(library, tmp)
        (tmp / "manifest.json").write_text(json.dumps(library.manifest(checksums), indent=2, sort_keys=True))
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    for name in keep:  # the study store moves over last, so a crash never deletes it
        os.replace(old / name, out / name)
    shutil.rmtree(old, ignore_errors=True)
    return out


# ---- reading ------------------------------------------------------------------------------
def _positive(value) -> bool:
    return is_integer(value) and value > 0


def _count(value) -> bool:
    return is_integer(value) and value >= 0


# field -> (test, what it must be), for manifest.json, its backbone and sources, profiles.json and history.json
_MANIFEST = {
    "files": (object_of(is_text), "an object of checksums"),
    "backbone": (lambda v: isinstance(v, dict), "an object"),
    "sources": (list_of(lambda v: isinstance(v, dict)), "a list of objects"),
    "training": (lambda v: isinstance(v, dict) and set(v) <= set(TRAINING_FIELDS),
                 f"an object of {', '.join(TRAINING_FIELDS)}"),
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
_HISTORY_ROW = {"target": (is_text, "a string"), "source": (is_text, "a string"), "seed": (is_integer, "an integer"),
                "score": (is_finite, "a finite number"), "baseline": (is_finite, "a finite number"),
                "gain": (is_finite, "a finite number"),  # floor and learned are NaN or null where not recorded
                "floor": (lambda v: v is None or is_number(v), "a number"),
                "learned": (lambda v: v is None or isinstance(v, bool) or (is_number(v) and math.isnan(v)),
                            "true or false")}


def _manifest_problem(manifest: dict) -> str | None:
    """The first field of manifest.json that is missing or of the wrong type, described; or None."""
    from intertask.training.config import TrainConfig

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
    return None


def _profiles_problem(profiles) -> str | None:
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


def _history_problem(rows) -> str | None:
    """The first row of history.json with a field missing or of the wrong type (NaN or infinite
    scores included), described; or None."""
    if not isinstance(rows, list):
        return f"must be a list of transfers, got {type(rows).__name__}"
    return next((p for i, row in enumerate(rows)
                 if (p := field_problem(row, _HISTORY_ROW, required=HISTORY_COLUMNS[:6], where=f"[{i}]."))), None)


def load_library(path: str | Path, backbone_name: str | None = None) -> Library:
    """Load and verify the library at `path`.

    Raises `IntertaskError` when the folder is not a library, a file is missing (partial
    library) or not a regular file (a symlink is read through to a regular file), a checksum differs (corrupted), the format is newer than this intertask, or the
    library belongs to a backbone other than `backbone_name` (when given).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not is_input_file(manifest_path, "rebuild the library"):
        raise IntertaskError(f"no source library at {str(folder)!r} (no manifest.json); build one with "
                             "`intertask library build CONFIG --out DIR`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deeply
        manifest = None
    if not isinstance(manifest, dict):
        raise IntertaskError(f"library {str(folder)!r}: manifest.json is unreadable; rebuild the library")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IntertaskError(f"library {str(folder)!r} has format version {manifest.get('format_version')!r}; "
                             f"this intertask reads version {FORMAT_VERSION}; rebuild the library")

    def broken(file: str, problem: str) -> IntertaskError:
        return IntertaskError(f"library {str(folder)!r}: {file} {problem}; rebuild the library")

    problem = _manifest_problem(manifest)
    if problem:
        raise broken("manifest.json", problem)
    files, backbone = manifest["files"], manifest["backbone"]
    if backbone_name is not None and backbone["name"] != backbone_name:
        raise IntertaskError(f"library {str(folder)!r} was built for backbone {backbone['name']!r}, not "
                             f"{backbone_name!r}; use a library built with {backbone_name!r} or that backbone")
    for name in FILES + tuple(n for n in OPTIONAL_FILES if n in files):
        file = folder / name
        if not is_input_file(file, "rebuild the library"):
            raise IntertaskError(f"library {str(folder)!r} is incomplete: {name} is missing; rebuild it")
        if sha256_file(file) != files.get(name):
            raise IntertaskError(f"library {str(folder)!r} is corrupted: {name} does not match its "
                                 "checksum in manifest.json; rebuild it")
    try:
        arrays = {name: load_file(str(folder / name)) for name in ("prompts.safetensors", "profiles.safetensors",
                                                                   ESM_FILE) if name in FILES or name in files}
    except SafetensorError:
        raise IntertaskError(f"library {str(folder)!r}: a safetensors file is unreadable; rebuild it") from None
    for name, tensors in arrays.items():
        bad = next((key for key, array in sorted(tensors.items()) if not np.isfinite(array).all()), None)
        if bad is not None:
            raise broken(name, f"holds NaN or infinite values in {bad!r}")
    prompts, vectors, maps = (arrays.get(n, {}) for n in ("prompts.safetensors", "profiles.safetensors", ESM_FILE))
    try:
        profiles = json.loads((folder / "profiles.json").read_text())
        rows = json.loads((folder / "history.json").read_text())
        combination = json.loads((folder / COMBINATION_FILE).read_text()) if COMBINATION_FILE in files else None
    except (ValueError, RecursionError):
        raise IntertaskError(f"library {str(folder)!r}: a JSON file is unreadable; rebuild it") from None
    for name, problem in (("profiles.json", _profiles_problem(profiles)), ("history.json", _history_problem(rows))):
        if problem:
            raise broken(name, problem)
    try:
        sources = [LibrarySource(
            name=entry["name"], n_train=entry["n_train"], tags=tuple(entry.get("tags", ())),
            prompts={int(seed): prompts[f"{entry['name']}/{seed}"] for seed in entry["seeds"]},
            scores={int(k): float(v) for k, v in entry.get("scores", {}).items()},
            text_embedding=vectors[f"source/{entry['name']}"],
            vocabulary=[(w, c) for w, c in profiles[entry["name"]]["vocabulary"]],
            esm_map=maps[f"esm/{entry['name']}"] if maps else None,
        ) for entry in manifest["sources"]]
    except (KeyError, ValueError):
        raise IntertaskError(f"library {str(folder)!r}: manifest.json does not match the library's files; "
                             "rebuild the library") from None
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    targets = {k.split("/", 1)[1]: v for k, v in vectors.items() if k.startswith("target/")}
    return Library(backbone=backbone, sources=sources, history=history, target_embeddings=targets,
                   training=manifest.get("training") or {}, combination=combination,
                   created_at=manifest.get("created_at", ""),
                   intertask_version=manifest.get("intertask_version", ""), path=folder)


def default_library_dir() -> Path:
    """The library shipped with intertask (MiniLM, the offline suite's sources)."""
    return Path(__file__).resolve().parent.parent / "library" / "minilm-offline-suite"


def describe(library: Library) -> dict:
    """Plain-data summary for `intertask library show`."""
    return {
        "path": str(library.path), "backbone": library.backbone, "created_at": library.created_at,
        "intertask_version": library.intertask_version,
        "sources": [{"name": s.name, "n_train": s.n_train, "tags": list(s.tags), "seeds": sorted(s.prompts),
                     "best_seed": s.best_seed, "best_score": s.scores.get(s.best_seed)}
                    for s in library.sources],
        "history_rows": int(len(library.history)),
        "history_targets": sorted(library.history["target"].unique().tolist()) if len(library.history) else [],
        "esm_maps": bool(library.sources) and all(s.esm_map is not None for s in library.sources),
        "combination": None if library.combination is None else
        {k: library.combination.get(k) for k in ("use", "reason")},
    }
