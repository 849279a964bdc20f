"""Leak check: does a target share texts with a library source?

A source whose prompt was trained on the target's own texts looks like a perfect intermediate task
for the wrong reason. Each library source carries compact text fingerprints (the optional library
file `fingerprints.safetensors`, key `"fp/<source>"` -> `[N, 2]` uint64, one row per distinct
text the source prompt saw: its train and validation splits), and a target's texts are looked up
in them.

Per text `t` (an example's `text`, or `"text text_pair"`):

* `normalise(t)`: Unicode NFKC, case-folded, every run of non-alphanumeric characters made one
  space, stripped. Two texts are an **exact** match when their normalised forms are equal; the
  first column is a 64-bit hash of the normalised form (blake2b), so an exact match is an equal
  hash (a false match between two different texts has probability 2^-64 per pair).
* `simhash(t)`: Charikar's SimHash over the byte 4-grams of the normalised form: each 4-gram is
  hashed to 64 bits (SplitMix64 of its bytes), and bit `b` of the fingerprint is 1 when more of the
  4-grams have bit `b` set than not. Similar texts share most 4-grams, so their fingerprints differ
  in few bits. Two texts are **near** duplicates when their fingerprints differ in at most
  `NEAR_BITS` bits (Hamming distance), a threshold measured on the offline suite against lightly
  edited copies (docs/findings.md, "Leak check"). Texts of fewer than `MIN_NEAR_CHARS` normalised
  characters are matched exactly only (their SimHash column holds 0): a few 4-grams carry no
  evidence of copying.

`check_target(library, task)` returns one `Leak` per source that shares at least one target
text: how many of the target's texts (all splits, deduplicated) match exactly, how many match
exactly or nearly, and their share. `Leak.is_copy` (share ≥ `COPY_SHARE`) is what `library
measure` refuses by default; `Leak.warns` (share ≥ `WARN_SHARE` or ≥ `WARN_COUNT` texts) is
what `recommend` warns about. `refuse_copied_target` raises for a copy unless allowed (for `library
measure`).

Reference: M. Charikar, "Similarity estimation techniques from rounding algorithms", STOC 2002;
G. S. Manku et al., "Detecting near-duplicates for web crawling", WWW 2007.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

NEAR_BITS = 6  # Hamming distance of two near-duplicate SimHash fingerprints (measured: docs/findings.md)
MIN_NEAR_CHARS = 20  # normalised texts shorter than this are matched exactly only
GRAM = 4  # bytes per shingle
MAX_TEXT_BYTES = 4096  # a long document's fingerprint reads its first 4 KiB
WARN_SHARE = 0.01  # recommend warns when this share of the target's texts is in a source ...
WARN_COUNT = 20  # ... or at least this many of them
COPY_SHARE = 0.5  # a target with this share of its texts in one source is a copy of it
CHUNK = 1024  # target texts compared at once in the near-duplicate search

_NON_WORD = re.compile(r"[\W_]+")
_BITS = np.arange(64, dtype=np.uint64)


def normalise(text: str) -> str:
    """NFKC, case-folded, non-alphanumeric runs made one space, stripped: `"Hello,  World!"` ->
    `"hello world"`."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def exact_hash(normalised: str) -> int:
    """64-bit blake2b hash of a normalised text."""
    return int.from_bytes(hashlib.blake2b(normalised.encode(), digest_size=8).digest(), "little")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, elementwise on uint64 (a bijection that mixes every input bit)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def simhash(normalised: str) -> int:
    """64-bit SimHash of the byte 4-grams of a normalised text (see the module docstring);
    a text shorter than one 4-gram is hashed whole."""
    data = np.frombuffer(normalised.encode()[:MAX_TEXT_BYTES].ljust(GRAM, b" "), dtype=np.uint8).astype(np.uint64)
    grams = sum(data[i:len(data) - GRAM + 1 + i] << np.uint64(8 * i) for i in range(GRAM))
    bits = (_splitmix64(grams)[:, None] >> _BITS) & np.uint64(1)  # [G, 64]
    ones = bits.sum(axis=0)
    return int(((2 * ones > len(grams)).astype(np.uint64) << _BITS).sum())


def fingerprints(texts) -> np.ndarray:
    """`[N, 2]` uint64 (exact hash, SimHash) of the distinct normalised `texts`, sorted by exact
    hash; empty texts are left out."""
    forms = sorted({form for form in (normalise(t) for t in texts) if form})
    rows = np.array([(exact_hash(f), simhash(f) if len(f) >= MIN_NEAR_CHARS else 0) for f in forms],
                    dtype=np.uint64).reshape(-1, 2)
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _near_flags(source_hashes: np.ndarray, target_hashes: np.ndarray) -> np.ndarray:
    """`[T]` bool: each target SimHash within `NEAR_BITS` bits of some source SimHash."""
    flags = np.zeros(len(target_hashes), dtype=bool)
    if not len(source_hashes) or not len(target_hashes):
        return flags
    for start in range(0, len(target_hashes), CHUNK):
        block = target_hashes[start:start + CHUNK, None] ^ source_hashes[None, :]
        flags[start:start + CHUNK] = (np.bitwise_count(block) <= NEAR_BITS).any(axis=1)
    return flags


@dataclass(frozen=True)
class Leak:
    """Target texts found in one library source: `exact` normalised-exact matches, `shared` exact
    or near-duplicate matches (≥ `exact`), out of the target's `n_texts` distinct texts."""

    source: str
    exact: int
    shared: int
    n_texts: int

    @property
    def share(self) -> float:
        return self.shared / self.n_texts if self.n_texts else 0.0

    @property
    def warns(self) -> bool:
        return self.share >= WARN_SHARE or self.shared >= WARN_COUNT

    @property
    def is_copy(self) -> bool:
        return self.share >= COPY_SHARE

    def to_dict(self) -> dict:
        return {**asdict(self), "share": self.share, "warns": self.warns, "copy": self.is_copy}

    def describe(self) -> str:
        return (f"{self.shared} of the target's {self.n_texts} texts ({self.share:.1%}) are in source "
                f"{self.source!r} ({self.exact} exactly, {self.shared - self.exact} nearly)")


def find_leaks(sources: dict[str, np.ndarray], texts) -> list[Leak]:
    """One `Leak` per source (name -> `[N, 2]` fingerprints) sharing a text with `texts`, most
    shared first."""
    target = fingerprints(texts)
    long_texts = target[:, 1] != 0
    leaks = []
    for name, source in sources.items():
        exact = np.isin(target[:, 0], source[:, 0])
        near = np.zeros_like(exact)
        near[long_texts & ~exact] = _near_flags(source[source[:, 1] != 0, 1], target[long_texts & ~exact, 1])
        shared = int((exact | near).sum())
        if shared:
            leaks.append(Leak(source=name, exact=int(exact.sum()), shared=shared, n_texts=len(target)))
    return sorted(leaks, key=lambda leak: (-leak.share, leak.source))


def task_texts(task, splits=("train", "validation", "test")) -> list[str]:
    """The texts of `task`'s `splits` as a sentence encoder sees them (`example_text`)."""
    from intertask.selection.profiles import example_text

    return [example_text(ex) for split in splits for ex in getattr(task, split)]


def source_fingerprints(task) -> np.ndarray:
    """A source's fingerprints: the texts its prompt saw (train and validation splits)."""
    return fingerprints(task_texts(task, ("train", "validation")))


def check_target(library, task) -> list[Leak]:
    """The library's sources that share texts with `task` (all its splits), most shared first;
    empty when the library carries no fingerprints (`has_fingerprints`)."""
    known = {s.name: s.fingerprints for s in library.sources if s.fingerprints is not None}
    return find_leaks(known, task_texts(task))


def refuse_copied_target(library, task, allow_copy: bool = False) -> list[Leak]:
    """`check_target(library, task)`, raising `IntertaskError` when `task` is a copy of a source
    (`Leak.is_copy`) unless `allow_copy`: a transfer from a source to its own texts measures
    nothing about transfer. Returns the leaks otherwise."""
    from intertask.errors import IntertaskError

    leaks = check_target(library, task)
    copies = [leak for leak in leaks if leak.is_copy]
    if copies and not allow_copy:
        raise IntertaskError(f"target {task.name!r} is a copy of a library source: {copies[0].describe()}; "
                             "a transfer from a source to its own texts measures nothing (allow copies "
                             "explicitly to measure it anyway)")
    return leaks


def has_fingerprints(library) -> bool:
    """Whether every source of the library carries fingerprints (an empty library does)."""
    return all(s.fingerprints is not None for s in library.sources)


def add_fingerprints(library_dir, progress=None) -> Path:
    """Fingerprint every source of the library at `library_dir` (tasks loaded by name) and add
    `fingerprints.safetensors` (replacing any). Returns the file's path. `progress(event, done,
    total)` is called once per source when given."""
    from safetensors.numpy import save

    from intertask.recommend.library import load_library
    from intertask.recommend.library_format import FINGERPRINT_FILE, fingerprint_key
    from intertask.recommend.library_write import add_library_file
    from intertask.tasks.registry import get_task

    library = load_library(library_dir)
    tasks = {s.name: get_task(s.name, progress=False) for s in library.sources}  # fail before any compute
    arrays = {}
    for i, source in enumerate(library.sources):
        arrays[fingerprint_key(source.name)] = source_fingerprints(tasks[source.name])
        if progress:
            progress("text fingerprints", i + 1, len(library.sources))
    return add_library_file(library_dir, FINGERPRINT_FILE, lambda tmp: tmp.write_bytes(save(arrays)))
