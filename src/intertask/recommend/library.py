"""A source library: trained source prompts plus what the selectors need, in one versioned folder.

Layout of a library directory (format version `FORMAT_VERSION`)::

    manifest.json          format_version, backbone {name, hidden_size, prompt_length}, created_at,
                           intertask_version, training (TrainConfig fields the targets reuse),
                           source_training {seeds, train} (the source protocol, `SourceProtocol`),
                           sources [{name, n_train, tags, seeds, scores, best_seed}], historical
                           targets, files {name: sha256}
    prompts.safetensors    "<source>/<seed>" -> [P, H] float32, the source's trained prompt per seed
    profiles.safetensors   "source/<name>" -> [D] text-embedding centroid of a source;
                           "target/<name>" -> [D] centroid of a historical target (when known)
    profiles.json          {source: {"n_train": int, "vocabulary": [[word, count], ...]}}: the
                           `VOCAB_SIZE` most frequent words of the source's training texts
    history.json           [{target, source, seed, score, baseline, ...}] measured transfers: a
                           `TransferMatrix` as a list of row objects (`to_history` / `from_history`),
                           each transfer with its `validation_curve` ([[step, validation score], ...])
                           where `library measure` recorded it. Rows of (target, seed) cases whose
                           baseline did not clear its floor stay in the history (so a measurement knows
                           they were done) and are left out where transfer is read
                           (`TransferMatrix.learned_only`)
    esm_maps.safetensors   (optional) "esm/<source>" -> [H + 1, H] float32, the source's embedding
                           space map for ESM-LogME (`intertask.recommend.esm_maps`)
    fingerprints.safetensors  (optional) "fp/<source>" -> [N, 2] uint64, the source's text
                           fingerprints for the leak check (`intertask.recommend.leakage`)
    combination.json       (optional) the rule that orders sources, chosen on held-out history
                           targets (`intertask.recommend.rule`), type-checked on load

Here: the loaded library (`Library`, `LibrarySource`) and its reading (`load_library` verifies every
file's sha256, each JSON file's fields (`intertask.recommend.library_format`) and the backbone).
`intertask.recommend.library_write` writes the whole folder into a temporary sibling and renames it
into place, so a crash or a full disk never leaves a half library; an optional file, or new history
rows, can be added to an existing library later, with the same guarantee.
"""


from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.matrix.transfer import TransferMatrix
from intertask.paths import is_input_file, sha256_file
from intertask.recommend.library_format import (COMBINATION_FILE, DEFAULT_SOURCE_TRAINING, ESM_FILE, FILES,
                                                FINGERPRINT_FILE, FORMAT_VERSION, MAX_COMBINATION_BYTES,
                                                OPTIONAL_FILES, TRAINING_FIELDS, VOCAB_SIZE, combination_problem,
                                                fingerprint_key, history_problem, manifest_problem, profiles_problem)
from intertask.selection.base import TaskProfile
from intertask.selection.embedding_free import ranked_words

__all__ = ["COMBINATION_FILE", "ESM_FILE", "FILES", "FINGERPRINT_FILE", "OPTIONAL_FILES", "TRAINING_FIELDS", "Library",
           "LibrarySource", "default_library_dir", "describe", "load_library", "vocabulary_counts"]


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
    fingerprints: np.ndarray | None = None  # [N, 2] uint64, text fingerprints (`recommend.leakage`)

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
    history: TransferMatrix = field(default_factory=TransferMatrix.empty)  # read transfer via .learned_only()
    target_embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # TRAINING_FIELDS of the study's target phase
    source_training: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_SOURCE_TRAINING))  # {seeds, train}
    combination: dict | None = None  # the rule that orders sources (combination.json, `recommend.rule`)
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
            "source_training": self.source_training,
            "sources": [{"name": s.name, "n_train": s.n_train, "tags": list(s.tags),
                         "seeds": sorted(s.prompts), "best_seed": s.best_seed,
                         "scores": {str(k): v for k, v in sorted(s.scores.items())}}
                        for s in self.sources],
            "history_targets": self.history.targets,
            "files": checksums,
        }


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
        fix = (f"choose the rule again with `intertask library add-combination {folder}`" if file == COMBINATION_FILE
               else "rebuild the library")
        return IntertaskError(f"library {str(folder)!r}: {file} {problem}; {fix}")

    problem = manifest_problem(manifest)
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
                                                                   ESM_FILE, FINGERPRINT_FILE)
                  if name in FILES or name in files}
    except SafetensorError:
        raise IntertaskError(f"library {str(folder)!r}: a safetensors file is unreadable; rebuild it") from None
    for name, tensors in arrays.items():
        bad = next((key for key, array in sorted(tensors.items()) if not np.isfinite(array).all()), None)
        if bad is not None:
            raise broken(name, f"holds NaN or infinite values in {bad!r}")
    prompts, vectors, maps, prints = (arrays.get(n, {}) for n in ("prompts.safetensors", "profiles.safetensors",
                                                                  ESM_FILE, FINGERPRINT_FILE))
    bad = next((key for key, array in sorted(prints.items())
                if array.dtype != np.uint64 or array.ndim != 2 or array.shape[1] != 2), None)
    if bad is not None:
        raise broken(FINGERPRINT_FILE, f"holds {bad!r}, which is not an [N, 2] uint64 array")
    try:
        profiles = json.loads((folder / "profiles.json").read_text())
        rows = json.loads((folder / "history.json").read_text())
        combination = None
        if COMBINATION_FILE in files:
            if (folder / COMBINATION_FILE).stat().st_size > MAX_COMBINATION_BYTES:
                raise broken(COMBINATION_FILE, f"is larger than {MAX_COMBINATION_BYTES} bytes")
            combination = json.loads((folder / COMBINATION_FILE).read_text())
    except (ValueError, RecursionError):
        raise IntertaskError(f"library {str(folder)!r}: a JSON file is unreadable; rebuild it") from None
    for name, problem in (("profiles.json", profiles_problem(profiles)), ("history.json", history_problem(rows)),
                          (COMBINATION_FILE, combination_problem(combination) if combination is not None else None)):
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
            fingerprints=prints[fingerprint_key(entry["name"])] if FINGERPRINT_FILE in files else None,
        ) for entry in manifest["sources"]]
    except (KeyError, ValueError):
        raise IntertaskError(f"library {str(folder)!r}: manifest.json does not match the library's files; "
                             "rebuild the library") from None
    try:
        history = TransferMatrix.from_history(rows, where=f"library {str(folder)!r}: history.json")
    except IntertaskError as err:
        raise IntertaskError(f"{err}; rebuild the library") from None
    targets = {k.split("/", 1)[1]: v for k, v in vectors.items() if k.startswith("target/")}
    return Library(backbone=backbone, sources=sources, history=history, target_embeddings=targets,
                   training=manifest.get("training") or {}, combination=combination,
                   source_training=manifest.get("source_training") or copy.deepcopy(DEFAULT_SOURCE_TRAINING),
                   created_at=manifest.get("created_at", ""),
                   intertask_version=manifest.get("intertask_version", ""), path=folder)


def default_library_dir() -> Path:
    """The library shipped with intertask (MiniLM, the offline suite's sources)."""
    return Path(__file__).resolve().parent.parent / "library" / "minilm-offline-suite"


def history_cases(library: Library) -> list[dict]:
    """Per history target: its seeds, how many of them have a baseline above its floor (the cases
    that count), the sources measured on every seed, and the lowest baseline margin over the floor
    (points; where recorded)."""
    rows = []
    for target, group in library.history.frame.groupby("target"):
        seeds = sorted(int(s) for s in group["seed"].unique())
        learned = group.groupby("seed")["baseline_learned"].first().fillna(True).astype(bool)
        per_source = group.groupby("source")["seed"].nunique()
        margin = (group["baseline"] - group["floor"]).min()
        rows.append({"target": str(target), "seeds": seeds, "learned_seeds": int(learned.sum()),
                     "complete_sources": int((per_source == len(seeds)).sum()),
                     "min_baseline_margin": None if pd.isna(margin) else float(margin)})
    return rows


def describe(library: Library) -> dict:
    """Plain-data summary for `intertask library show`."""
    return {
        "path": str(library.path), "backbone": library.backbone, "created_at": library.created_at,
        "intertask_version": library.intertask_version,
        "sources": [{"name": s.name, "n_train": s.n_train, "tags": list(s.tags), "seeds": sorted(s.prompts),
                     "best_seed": s.best_seed, "best_score": s.scores.get(s.best_seed)}
                    for s in library.sources],
        "history_rows": len(library.history),
        "history_targets": library.history.targets,
        "history_cases": history_cases(library),
        "esm_maps": bool(library.sources) and all(s.esm_map is not None for s in library.sources),
        "fingerprints": bool(library.sources) and all(s.fingerprints is not None for s in library.sources),
        "source_training": library.source_training,
        "combination": None if library.combination is None else
        {k: library.combination.get(k) for k in ("rule", "fallback", "reason")},
    }
