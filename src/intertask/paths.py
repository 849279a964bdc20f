"""Where intertask keeps downloaded and converted data.

`cache_dir()` is `$INTERTASK_HOME` when set, else `~/.cache/intertask`. Nothing is written
at import time; callers create the sub-folders they need.
"""

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of intertask's cache (downloads, converted suite data, converted models)."""
    return Path(os.environ.get("INTERTASK_HOME") or Path.home() / ".cache" / "intertask")
