"""Store: round-trip of rows and artifacts, checksum detection, failed rows, the writer lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time

import pytest

from intertask.errors import IntertaskError
from intertask.paths import sha256_file
from intertask.study.store import Store


def row(run_id: str, **extra) -> dict:
    return {
        "run_id": run_id, "kind": "baseline", "task": "toy_topic2", "seed": 1, "backbone": "tiny-encoder",
        "config_json": json.dumps({"steps": 4}), "metrics_json": json.dumps({"accuracy": 75.0}),
        "validation_score": 70.0, "test_score": 75.0, "best_step": 4, "steps": 4, "train_seconds": 0.5,
        "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:01+00:00",
        "code_version": "test", **extra,
    }


def write_bytes(payload: bytes):
    def write(path):
        path.write_bytes(payload)
    return write


def test_round_trip_and_finished(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer():
        store.save_study("tiny", json.dumps({"name": "tiny"}), [row("a"), row("b")])
        store.put_done(row("a"), write_bytes(b"prompt-a"))
        store.put_failed(row("b"), "RuntimeError: boom")
    got = {r["run_id"]: r for r in store.rows()}
    assert got["a"]["status"] == "done" and got["a"]["test_score"] == 75.0
    assert got["a"]["artifact_sha256"] == sha256_file(store.artifact_path("a"))
    assert got["b"]["status"] == "failed" and got["b"]["test_score"] is None
    assert got["b"]["error"] == "RuntimeError: boom"
    assert store.finished_ids() == {"a"}
    assert [p["run_id"] for p in store.plan()] == ["a", "b"]
    assert store.latest_study() == "tiny"
    assert not list(store.artifacts_dir.glob("*.tmp*"))


def test_failed_run_is_replaced_by_its_retry(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer():
        store.put_failed(row("a"), "boom")
        store.put_done(row("a"), write_bytes(b"ok"))
    rows = store.rows()
    assert len(rows) == 1 and rows[0]["status"] == "done" and rows[0]["error"] is None


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_missing_or_corrupted_artifact_is_not_finished(tmp_path, damage):
    store = Store(tmp_path / "s")
    with store.writer():
        store.put_done(row("a"), write_bytes(b"prompt-a"))
        store.put_done(row("b"), write_bytes(b"prompt-b"))
    path = store.artifact_path("a")
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(b"prompt-A")
    assert store.finished_ids() == {"b"}


def test_done_row_without_score_is_rejected(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer():
        with pytest.raises(sqlite3.IntegrityError):
            store._put_row({**row("a"), "status": "done", "artifact_sha256": None})


def test_failed_artifact_write_leaves_nothing(tmp_path):
    store = Store(tmp_path / "s")

    def explode(path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    with store.writer():
        with pytest.raises(OSError, match="disk full"):
            store.put_done(row("a"), explode)
    assert store.rows() == []
    assert list(store.artifacts_dir.iterdir()) == []


def test_reading_a_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(IntertaskError, match=r"no study store at .*; run `intertask study run CONFIG --store"):
        Store(tmp_path / "nowhere").rows()


def test_writes_outside_the_writer_are_refused(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(RuntimeError, match="inside `with store.writer"):
        store.put_failed(row("a"), "x")


def _hold_lock(path, ready, release):
    with Store(path).writer(command="holder"):
        ready.set()
        release.wait(30)


def test_second_writer_is_refused_naming_the_holder_and_readers_still_work(tmp_path):
    path = tmp_path / "s"
    with Store(path).writer() as store:
        store.save_study("tiny", "{}", [row("a")])
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(IntertaskError, match=rf"in use by another writer \(pid {holder.pid} on .*`holder`"):
            with Store(path).writer():
                pass
        assert [p["run_id"] for p in Store(path).plan()] == ["a"]  # readers need no lock
    finally:
        release.set()
        holder.join(30)
    with Store(path).writer():  # released on exit
        pass


def test_lock_of_a_killed_writer_is_released(tmp_path):
    path = tmp_path / "s"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    assert ready.wait(30)
    os.kill(holder.pid, 9)
    holder.join(30)
    deadline = time.time() + 10
    with Store(path).writer():
        assert time.time() < deadline
