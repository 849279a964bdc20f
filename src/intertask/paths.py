"""Where intertask keeps downloaded and converted data; the folders and files users name; how
files are written (atomically), checked (sha256) and stamped (UTC time).

`cache_dir()` is `$INTERTASK_HOME` when set, else `~/.cache/intertask`. Nothing is written
at import time; callers create the sub-folders they need.

Overwrite policy for every path a user names for output (`out`, `report`, `store`):
intertask writes only to a new path or over an existing regular file (replaced whole, atomically).
It refuses, with one line, a symlink, a device node, a FIFO or a socket at that path, a folder
where a file is expected, and a path below a file. New files and folders get the usual
permissions (0666/0777 less the umask). A write that fails (disk full, read-only disk) leaves
neither a temporary file nor the folders it created. `what` is the parameter that named the path (`"out"`):
each refusal starts with it and gives it as its `IntertaskError.parameter` (the CLI shows the command's word).
"""

import contextlib
import ctypes
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from intertask.errors import IntertaskError


def cache_dir() -> Path:
    """Root of intertask's cache (downloads, converted suite data, converted models)."""
    return Path(os.environ.get("INTERTASK_HOME") or Path.home() / ".cache" / "intertask")


def _refuse_blocked(path: Path, what: str, itself: bool = False) -> None:
    """Refuse, as one `IntertaskError` line, a `path` below a file (or, with `itself`, that is a file)."""
    candidates = [path, *reversed(path.parents)] if itself else reversed(path.parents)
    blocker = next((p for p in candidates if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise IntertaskError(f"{what} {str(path)!r}: {blocker} is a file, not a folder; choose another path", what)


def _kind(mode: int) -> str:
    kinds = {stat.S_ISLNK: "a symlink", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
             stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a folder"}
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def is_input_file(path: Path, fix: str) -> bool:
    """Whether a file to read is at `path`: True for a regular file, read through symlinks; False when
    nothing is there. Anything else is one `IntertaskError` line ending in `fix`: a FIFO (a read would
    block), a device (/dev/zero: it would never end), a folder, a symlink to nothing or in a loop."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if os.path.lexists(path):
            raise IntertaskError(f"{path} is a symlink to nothing; {fix}") from None
        return False
    except OSError as err:  # ELOOP: a symlink loop
        raise IntertaskError(f"{path} cannot be read ({err.strerror}); {fix}") from None
    if not stat.S_ISREG(mode):
        raise IntertaskError(f"{path} is {_kind(mode)}, not a regular file; {fix}")
    return True


def check_output_file(path: Path, what: str) -> Path:
    """Refuse, as one `IntertaskError` line, an output file path that intertask must not write:
    anything but a new path or an existing regular file, or a path below a file."""
    path = Path(path)
    _refuse_blocked(path, what)
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise IntertaskError(f"{what} {str(path)!r} is {_kind(mode)}; intertask writes only to a new path "
                                 "or over a regular file, choose another path", what)
    return path


def _write_failed(path: Path, what: str, err: Exception) -> IntertaskError:
    reason = getattr(err, "strerror", None) or str(err)
    return IntertaskError(f"{what} {str(path)!r}: cannot write ({reason}); nothing was written, "
                          "free space or choose another path", what)


@contextlib.contextmanager
def new_folders(path: Path, what: str):
    """`mkdir -p path` for a folder the user named as `what` (e.g. "out"); a path blocked by a
    file or not writable is one `IntertaskError` line. When the `with` block fails, the folders
    this call created are removed again (only if still empty), so a failed command leaves none."""
    path = Path(path)
    _refuse_blocked(path, what, itself=True)
    created = [p for p in [path, *path.parents] if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise IntertaskError(f"{what} {str(path)!r}: cannot create this folder ({err.strerror}); "
                             "choose another path", what) from None
    try:
        yield path
    except BaseException:
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def make_folder(path: Path, what: str) -> Path:
    """`mkdir -p path` for a folder the user named as `what`; see `new_folders`."""
    with new_folders(path, what) as made:
        return made


@contextlib.contextmanager
def atomic_output(path: Path, what: str = "out"):
    """Yield a temporary path beside `path`; rename it over `path` when the block succeeds and
    remove it when it fails, so `path` is either complete or untouched. `path` must pass
    `check_output_file`; an `OSError` while writing (disk full) becomes one `IntertaskError` line."""
    path = check_output_file(Path(path), what)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with new_folders(path.parent, what):
            try:
                yield tmp
                check_output_file(path, what)  # nothing took its place while we wrote
                os.replace(tmp, path)
            except OSError as err:
                raise _write_failed(path, what, err) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_table(frame, out: Path, format: str, what: str = "out") -> Path:
    """Write the DataFrame `frame` to `out` through `atomic_output` (complete or untouched) as
    csv, parquet, json (an indented list of records) or jsonl (one record a line)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise IntertaskError(f"{what} {str(out)!r}: folder {str(out.parent)!r} does not exist; create it first", what)
    writers = {"csv": lambda tmp: frame.to_csv(tmp, index=False),
               "parquet": lambda tmp: frame.to_parquet(tmp, index=False),
               "json": lambda tmp: frame.to_json(tmp, orient="records", indent=1),
               "jsonl": lambda tmp: frame.to_json(tmp, orient="records", lines=True)}
    with atomic_output(out, what) as tmp:
        writers[format](tmp)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def folder_beside(path: Path, what: str = "out"):
    """Yield a new, empty folder beside `path` (usual permissions) for the block to fill and then
    rename to `path` itself. Whatever is left of it after the block is removed, and so are the
    folders made for it when the block fails; a write error in the block (`OSError`, or safetensors'
    error for a full disk) becomes one `IntertaskError` line."""
    from safetensors import SafetensorError

    path = Path(path)
    with new_folders(path.parent, what):
        try:
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
        except OSError as err:
            raise _write_failed(path, what, err) from None
        try:
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a user's folder gets the usual mode
            yield tmp
        except (OSError, SafetensorError) as err:
            raise _write_failed(path, what, err) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def exchange_folders(a: Path, b: Path) -> bool:
    """Swap the folders at paths `a` and `b` in one atomic step (Linux `renameat2` with
    `RENAME_EXCHANGE`): no moment without either. False where the OS or filesystem cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


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
