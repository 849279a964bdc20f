"""The study store: one directory with `study.sqlite` (WAL) and `artifacts/<run_id>.safetensors`.

Contract (what makes a study resumable after any crash, `kill -9` included):

* A finished run is written artifact first (temp file, fsync, rename), then its row in one
  transaction. A row exists only for a complete artifact; an artifact without a row is ignored
  and overwritten when the run is redone.
* A run counts as finished only when its row says `done` and the artifact's sha256 equals the
  row's `artifact_sha256`; a missing or altered artifact makes the run pending again.
* A failed run is a row with `status = 'failed'` and its `error` text, never a score; it is
  retried by the next `study run`.
* One writer at a time: `Store.writer()` holds an exclusive `flock` on `<store>/lock` and
  refuses a second writer naming the process that holds it. Readers (status, export) need no
  lock: SQLite's WAL lets them read while the writer commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

from intertask import __version__
from intertask.errors import IntertaskError
from intertask.paths import check_output_file, make_folder, sha256_file, utc_now

SCHEMA_VERSION = 1
RUN_COLUMNS = (
    "run_id", "kind", "task", "source_task", "source_run_id", "seed", "source_seed", "backbone",
    "status", "config_json", "metrics_json", "validation_score", "test_score", "best_step", "steps",
    "train_seconds", "started_at", "finished_at", "artifact_sha256", "code_version", "git_hash", "error",
)
PLAN_COLUMNS = ("run_id", "kind", "task", "source_task", "source_run_id", "seed", "source_seed", "config_json")
_TABLES = ("meta", "runs", "studies", "plan")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('source', 'baseline', 'transfer')),
    task TEXT NOT NULL, source_task TEXT, source_run_id TEXT, seed INTEGER NOT NULL, source_seed INTEGER,
    backbone TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    config_json TEXT NOT NULL, metrics_json TEXT, validation_score REAL, test_score REAL,
    best_step INTEGER, steps INTEGER, train_seconds REAL, started_at TEXT, finished_at TEXT,
    artifact_sha256 TEXT, code_version TEXT, git_hash TEXT, error TEXT,
    CHECK (status = 'failed' OR (artifact_sha256 IS NOT NULL AND test_score IS NOT NULL))
);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY, config_json TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan (
    study TEXT NOT NULL, position INTEGER NOT NULL, run_id TEXT NOT NULL, kind TEXT NOT NULL,
    task TEXT NOT NULL, source_task TEXT, source_run_id TEXT, seed INTEGER NOT NULL, source_seed INTEGER,
    config_json TEXT NOT NULL, PRIMARY KEY (study, run_id)
);
"""


def git_hash() -> str | None:
    """The commit of the checkout intertask runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


class Store:
    """A study store at `path` (a directory); see the module docstring for the contract."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db_path = self.path / "study.sqlite"
        self.artifacts_dir = self.path / "artifacts"
        self.lock_path = self.path / "lock"
        self._lock_handle = None

    # ---- opening -------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.db_path.is_file()

    def _connect(self, write: bool) -> sqlite3.Connection:
        if not write and not self.exists():
            raise IntertaskError(
                f"no study store at {str(self.path)!r}; run `intertask study run CONFIG --store {self.path}` first"
            )
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        if write:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        else:
            conn.execute("PRAGMA query_only = 1")
        return conn

    def _database_error(self, err: sqlite3.DatabaseError) -> IntertaskError:
        """One line for an SQLite failure: a full or failing disk, or a damaged database file."""
        code = getattr(err, "sqlite_errorcode", None)
        if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR) or "disk is full" in str(err):
            return IntertaskError(f"store {str(self.path)!r}: cannot write {self.db_path.name} ({err}); free space and "
                                  "run the same command again (finished runs are kept)", "store")
        return IntertaskError(f"store database {str(self.db_path)!r} is damaged ({err}); `intertask study check "
                              f"--store {self.path}` reports what is wrong; restore it from a backup or use a new "
                              "store")

    @contextlib.contextmanager
    def _database(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection for the `with` block; an SQLite failure in it becomes one `IntertaskError` line."""
        try:
            conn = self._connect(write=write)
            try:
                yield conn
            finally:
                conn.close()
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise  # intertask's own mistake, not the file's: keep the traceback
        except sqlite3.DatabaseError as err:
            raise self._database_error(err) from None

    def _read(self):
        return self._database(write=False)

    @contextlib.contextmanager
    def writer(self, command: str = "intertask study run") -> Iterator["Store"]:
        """Hold the store's exclusive writer lock (and create the store) for the `with` block."""
        if self.path.exists() and not self.path.is_dir():
            raise IntertaskError(f"store {str(self.path)!r} is a file; give a directory for the study store", "store")
        fresh = not self.path.exists()
        try:
            handle = self._lock(command)
            try:
                with self._database(write=True) as conn, conn:
                    conn.executescript(_SCHEMA)
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            except BaseException:
                self._unlock(handle)
                raise
        except BaseException:
            if fresh:  # a store that could not even be set up is not left behind
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        try:
            for stale in self.artifacts_dir.glob("*.tmp*"):
                stale.unlink()
            yield self
        finally:
            self._unlock(handle)

    def _lock(self, command: str):
        """Create the store's folders and take the exclusive writer lock; return the lock's handle."""
        make_folder(self.artifacts_dir, "store")
        handle = open(self.lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "{}"
            handle.close()
            try:
                info = json.loads(holder)
            except json.JSONDecodeError:
                info = {}
            raise IntertaskError(
                f"store {str(self.path)!r} is in use by another writer (pid {info.get('pid', '?')} on "
                f"{info.get('host', '?')}, `{info.get('command', '?')}` since {info.get('since', '?')}); "
                "wait for it to finish or use another store", "store"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": command, "since": utc_now()}))
        handle.flush()
        self._lock_handle = handle
        return handle

    def _unlock(self, handle) -> None:
        self._lock_handle = None
        handle.seek(0)
        handle.truncate()
        handle.close()

    def _require_writer(self) -> None:
        if self._lock_handle is None:
            raise RuntimeError("write to a Store only inside `with store.writer():`")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._require_writer()
        with self._database(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ---- writing -------------------------------------------------------------------------
    def artifact_path(self, run_id: str) -> Path:
        return self.artifacts_dir / f"{run_id}.safetensors"

    def save_study(self, name: str, config_json: str, plan: list[dict]) -> None:
        """Record the study's config and its planned runs (replacing an earlier plan of `name`)."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO studies VALUES (?, ?, ?)", (name, config_json, utc_now()))
            conn.execute("DELETE FROM plan WHERE study = ?", (name,))
            conn.executemany(
                f"INSERT INTO plan VALUES (?, ?, {', '.join('?' for _ in PLAN_COLUMNS)})",
                [(name, i, *(row.get(c) for c in PLAN_COLUMNS)) for i, row in enumerate(plan)],
            )

    def put_done(self, row: dict, write_artifact: Callable[[Path], None]) -> None:
        """Write the artifact with `write_artifact(tmp_path)`, publish it, then commit `row` as done."""
        self._require_writer()
        final = check_output_file(self.artifact_path(row["run_id"]), "store")
        tmp = final.with_name(f"{row['run_id']}.tmp{os.getpid()}.safetensors")
        try:
            write_artifact(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(self.artifacts_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._put_row({**row, "status": "done", "error": None, "artifact_sha256": sha256_file(final)})

    def put_failed(self, row: dict, error: str) -> None:
        """Record a failed run with its error text (no score, no artifact)."""
        self._put_row({**row, "status": "failed", "error": error, "artifact_sha256": None,
                       "validation_score": None, "test_score": None})

    def _put_row(self, row: dict) -> None:
        values = [row.get(c) for c in RUN_COLUMNS]
        with self._transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})",
                values,
            )

    # ---- reading -------------------------------------------------------------------------
    def rows(self, run_ids: list[str] | None = None) -> list[dict]:
        """All run rows (or those with `run_ids`) as plain dicts, in insertion order."""
        with self._read() as conn:
            found = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY rowid")]
        if run_ids is not None:
            wanted = set(run_ids)
            found = [r for r in found if r["run_id"] in wanted]
        return found

    def studies(self) -> list[dict]:
        """Recorded studies, most recently run last."""
        with self._read() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM studies ORDER BY updated_at, rowid")]

    def latest_study(self) -> str:
        studies = self.studies()
        if not studies:
            raise IntertaskError(f"store {str(self.path)!r} holds no study yet; run `intertask study run` first")
        return studies[-1]["name"]

    def plan(self, study: str | None = None) -> list[dict]:
        """The planned runs of `study` (default: the latest) in plan order."""
        study = study or self.latest_study()
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT * FROM plan WHERE study = ? ORDER BY position", (study,))]
        if not rows:
            known = ", ".join(s["name"] for s in self.studies())
            raise IntertaskError(f"store {str(self.path)!r} has no study {study!r}; it holds: {known}")
        return rows

    def check(self) -> dict:
        """A read-only health check: SQLite's `integrity_check`, the tables, and each finished run's
        artifact. Returns `{"store", "problems": [one line each], "runs", "studies"}`; never writes."""
        problems, runs, studies = [], 0, 0
        try:  # a missing store is an error, not a finding
            with contextlib.closing(self._connect(write=False)) as conn:
                problems += [f"database: {r[0]}" for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                problems += [f"database: table {name!r} is missing" for name in sorted(set(_TABLES) - tables)]
        except sqlite3.DatabaseError as err:
            problems.append(f"database {str(self.db_path)!r}: {err}")
        if not problems:
            rows = self.rows()
            runs, studies = len(rows), len(self.studies())
            problems += [f"artifact of run {r['run_id'][:12]} ({r['kind']} {r['task']} seed {r['seed']}) is missing or "
                         "altered; `intertask study run` redoes it" for r in rows
                         if r["status"] == "done" and not self.artifact_ok(r)]
        return {"store": str(self.path), "problems": problems, "runs": runs, "studies": studies}

    def artifact_ok(self, row: dict) -> bool:
        """True when `row` is done and its artifact exists with the recorded sha256."""
        if row["status"] != "done" or not row["artifact_sha256"]:
            return False
        path = self.artifact_path(row["run_id"])
        return path.is_file() and sha256_file(path) == row["artifact_sha256"]

    def finished_ids(self, run_ids: list[str] | None = None) -> set[str]:
        """Ids of runs that are done with an intact artifact (these are never redone)."""
        return {r["run_id"] for r in self.rows(run_ids) if self.artifact_ok(r)}


def code_version() -> str:
    """The intertask version and Python version that produced a row."""
    return f"intertask {__version__}; python {sys.version.split()[0]}"
