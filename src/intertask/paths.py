"""Where intertask keeps downloaded and converted data; the folders and files users name.

`cache_dir()` is `$INTERTASK_HOME` when set, else `~/.cache/intertask`. Nothing is written
at import time; callers create the sub-folders they need.
"""

import contextlib
import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of intertask's cache (downloads, converted suite data, converted models)."""
    return Path(os.environ.get("INTERTASK_HOME") or Path.home() / ".cache" / "intertask")


def make_folder(path: Path, flag: str) -> Path:
    """`mkdir -p path` for a folder the user named with `flag` (e.g. "--out"); a path blocked by a
    file or not writable is the user's mistake: one `IntertaskError` line, not a traceback."""
    from intertask.errors import IntertaskError

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
