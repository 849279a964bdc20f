"""Writing a source library: the whole folder at once (`write_library`), or one file of an existing
library with its manifest (`add_library_file`); complete or untouched either way. (`library measure`
appends to the history with `intertask.recommend.measure.append_history`, a whole-library write.)"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from intertask.errors import IntertaskError
from intertask.paths import atomic_output, exchange_folders, folder_beside, sha256_file
from intertask.recommend.library import Library, load_library
from intertask.recommend.library_format import (COMBINATION_FILE, ESM_FILE, FILES, FINGERPRINT_FILE, OPTIONAL_FILES,
                                                fingerprint_key)

HISTORY_FILE = "history.json"


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
    (folder / HISTORY_FILE).write_text(json.dumps(library.history.to_history(), indent=0))
    written = list(FILES)
    if any(s.esm_map is not None for s in library.sources):
        _write_per_source(folder / ESM_FILE, "an embedding space map",
                          [(s.name, s.esm_map) for s in library.sources], lambda name: f"esm/{name}", np.float32)
        written.append(ESM_FILE)
    if any(s.fingerprints is not None for s in library.sources):
        _write_per_source(folder / FINGERPRINT_FILE, "text fingerprints",
                          [(s.name, s.fingerprints) for s in library.sources], fingerprint_key, np.uint64)
        written.append(FINGERPRINT_FILE)
    if library.combination is not None:
        (folder / COMBINATION_FILE).write_text(json.dumps(library.combination, indent=1, sort_keys=True))
        written.append(COMBINATION_FILE)
    return {name: sha256_file(folder / name) for name in written}


def _write_per_source(path: Path, what: str, arrays: list[tuple[str, np.ndarray | None]], key, dtype) -> None:
    """Save `arrays` ((source name, array or None) pairs) at `path` under `key(name)`; every source
    needs one, or none."""
    from safetensors.numpy import save_file

    missing = [name for name, array in arrays if array is None]
    if missing:
        raise IntertaskError(f"every source needs {what}, or none; missing: {', '.join(missing)}")
    save_file({key(name): np.ascontiguousarray(array, dtype=dtype) for name, array in arrays}, str(path))


def _replace_file(path: str | Path, name: str, write) -> Path:
    """Replace the file `name` of the verified library at `path`: `write(tmp)` writes it to a temporary
    path and manifest.json is written beside it with its checksum (every other entry kept); then both
    are renamed into place, the file first and the manifest last, so a write error (disk full) is one
    line and changes nothing."""
    folder = Path(path)
    manifest = json.loads((folder / "manifest.json").read_text())
    with atomic_output(folder / "manifest.json", "library") as new_manifest, \
            atomic_output(folder / name, "library") as tmp:
        write(tmp)
        manifest["files"][name] = sha256_file(tmp)
        new_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return folder / name


def add_library_file(path: str | Path, name: str, write) -> Path:
    """Add or replace the optional file `name` (one of `OPTIONAL_FILES`) of the library at `path`, after
    verifying the library; `write(tmp)` writes it. Returns the file's path."""
    if name not in OPTIONAL_FILES:
        raise ValueError(f"{name!r} is not an optional library file")
    load_library(path)
    return _replace_file(path, name, write)


def check_library_out(out: Path, what: str = "out_dir") -> bool:
    """Raise unless `out` may receive a library (absent, empty, a library, or only a `.store`);
    return whether it exists. Called before any training, and again just before writing. `what`: the
    parameter that named `out`, which starts each refusal."""
    if not out.exists():
        if any(p.exists() and not p.is_dir() for p in out.parents):
            raise IntertaskError(f"{what} {str(out)!r}: a file stands where its folder should be; choose another "
                                 "path", what)
        return False
    if not out.is_dir():
        raise IntertaskError(f"{what} {str(out)!r} is a file; give a directory for the library", what)
    entries = {p.name for p in out.iterdir()}
    if entries and "manifest.json" not in entries and entries != {".store"}:
        raise IntertaskError(f"{what} {str(out)!r} exists and is not a library; choose a new or empty directory", what)
    return True


def write_library(library: Library, out_dir: str | Path, what: str = "out_dir") -> Path:
    """Write `library` to `out_dir` atomically; returns the path.

    The files are written into a temporary sibling that then takes `out_dir`'s place in one atomic
    swap (`exchange_folders`; two renames where the OS cannot swap), so a reader or a crash sees the
    old library or the new one, never a mix. An existing `out_dir` is replaced only when it is a
    library (has `manifest.json`), is empty, or holds only a `.store` folder (which is kept);
    otherwise nothing is written. `what` names `out_dir` in a write error (a full disk).
    """
    out = Path(out_dir)
    keep = [".store"] if check_library_out(out, what) and (out / ".store").exists() else []
    with folder_beside(out, what) as tmp:
        checksums = _write_files(library, tmp)
        (tmp / "manifest.json").write_text(json.dumps(library.manifest(checksums), indent=2, sort_keys=True))
        if not out.exists():
            os.replace(tmp, out)
            return out
        if exchange_folders(tmp, out):
            old = tmp  # the swap left the old library here; folder_beside removes it
        else:
            old = out.parent / f".{out.name}.old{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
        for name in keep:  # the study store moves over last, so a crash never deletes it
            os.replace(old / name, out / name)
        shutil.rmtree(old, ignore_errors=True)
    return out
