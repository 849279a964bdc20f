"""Hostile and unlucky inputs (issue 13): one `error:` line, no traceback, no hang, and nothing
touched that the command did not create. Each class of the reliability report is replayed on tiny
inputs made here: a FIFO, a symlink, a device node (only as root), a fake disk-full error."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.paths import atomic_output, check_output_file

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def one_error_line(capsys, *needles: str) -> str:
    """The command's stderr (less `note:` lines), asserted to be one `error:` line holding every needle."""
    err = "".join(line for line in capsys.readouterr().err.splitlines(True) if not line.startswith("note: "))
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# ---- 1. writing: only a new path or an existing regular file ---------------------------------
def _special(tmp_path, kind: str):
    path = tmp_path / f"{kind}.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        (tmp_path / "target.csv").write_text("keep me\n")
        path.symlink_to(tmp_path / "target.csv")
    elif kind == "device":
        if not AS_ROOT:
            pytest.skip("mknod needs root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a copy of /dev/null
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind, said", [("fifo", "is a FIFO"), ("symlink", "is a symlink"),
                                        ("device", "is a character device"), ("folder", "is a folder")])
def test_output_never_replaces_what_is_not_a_regular_file(tmp_path, kind, said):
    path = _special(tmp_path, kind)
    before = os.lstat(path)
    with pytest.raises(IntertaskError, match=f"--out .* {said}; intertask writes only to a new path"):
        with atomic_output(path) as tmp:
            tmp.write_text("x")
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({path.name, *(["target.csv"] if kind == "symlink" else [])})
    if kind == "symlink":
        assert (tmp_path / "target.csv").read_text() == "keep me\n"


def test_output_below_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(IntertaskError, match="afile is a file, not a folder; choose another --report"):
        check_output_file(tmp_path / "afile" / "sub" / "r.html", "--report")


def test_output_overwrites_a_regular_file_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        new, existing = tmp_path / "sub" / "new.csv", tmp_path / "existing.csv"
        existing.write_text("old")
        for path in (new, existing):
            with atomic_output(path) as tmp:
                tmp.write_text("new")
            assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o644
        assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o755
    finally:
        os.umask(old)


def test_study_export_refuses_a_fifo(tmp_path, capsys, finished_store):
    fifo = _special(tmp_path, "fifo")
    assert run(["study", "export", "--store", str(finished_store), "--out", str(fifo), "--format", "csv"]) == 2
    one_error_line(capsys, "is a FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_train_refuses_a_fifo_before_training(tmp_path, capsys):
    fifo = tmp_path / "p.safetensors"
    os.mkfifo(fifo)
    assert run(["train", "--task", "toy_topic2", "--backbone", "tiny-encoder", "--steps", "1",
                "--device", "cpu", "--out", str(fifo)]) == 2
    one_error_line(capsys, "is a FIFO")


def test_store_below_a_file_is_one_line(tmp_path, capsys, tiny_config):
    (tmp_path / "afile").write_text("x")
    assert run(["study", "run", str(tiny_config), "--store", str(tmp_path / "afile" / "store")]) == 2
    one_error_line(capsys, "is a file, not a folder")


def test_artifacts_as_a_file_is_one_line(tmp_path, capsys, tiny_config):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "artifacts").write_text("x")
    assert run(["study", "run", str(tiny_config), "--store", str(tmp_path / "store")]) == 2
    one_error_line(capsys, "is a file, not a folder")


def test_prompt_export_to_a_file_or_below_one_is_one_line(tmp_path, capsys, prompt_file):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        assert run(["prompts", "export", str(prompt_file), "--out", str(out)]) == 2
        one_error_line(capsys, "afile")
    assert (tmp_path / "afile").read_text() == "x"
