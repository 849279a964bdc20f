"""Where intertask keeps downloaded and converted data; the folders and files users name; how
files are written (atomically), checked (sha256) and stamped (UTC time).

`cache_dir()` is `$INTERTASK_HOME` when set, else `~/.cache/intertask`. Nothing is written
at import time; callers create the sub-folders they need.
"""

import contextlib
import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

from intertask.errors import IntertaskError


def cache_dir() -> Path:
    """Root of intertask's cache (downloads, converted suite data, converted models)."""
    return Path(os.environ.get("INTERTASK_HOME") or Path.home() / ".cache" / "intertask")


def make_folder(path: Path, flag: str) -> Path:
    """`mkdir -p path` for a folder the user named with `flag` (e.g. "--out"); a path blocked by a
    file or not writable is the user's mistake: one `IntertaskError` line, not a traceback."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise IntertaskError(f"{flag} {str(path)!r}: cannot create this folder ({err.strerror}); "
                             f"choose another {flag}") from None
    return path


@contextlib.contextmanager
def atomic_output(path: Path):
    """Yield a temporary path beside `path`; rename it over `path` when the block succeeds and
    remove it when it fails, so `path` is either complete or untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of the file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string (seconds), as stores and libraries record it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
