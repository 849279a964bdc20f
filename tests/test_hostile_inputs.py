"""Hostile and unlucky inputs (issue 13): one `error:` line, no traceback, no hang, and nothing
touched that the command did not create. Each class of the reliability report is replayed on tiny
inputs made here: a FIFO, a symlink, a device node (only as root), a fake disk-full error."""

from __future__ import annotations

import errno
import json
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


def test_an_api_parameter_is_shown_as_its_flag():
    from intertask.cli import cli_message

    said = {("budget_steps must be >= 1, got 0", "budget_steps"): "--budget-steps must be >= 1, got 0",
            ("verify_k 9 exceeds the library's 4 sources", "verify_k"): "--verify 9 exceeds the library's 4 sources",
            ("out_dir 'x' is a file", "out_dir"): "--out 'x' is a file",
            ("library 'x': cannot write", "library"): "library 'x': cannot write",  # the DIR of `library` commands
            ("no file 'x'", None): "no file 'x'"}
    assert {key: cli_message(IntertaskError(*key)) for key in said} == said


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
    with pytest.raises(IntertaskError, match=f"^out '.*' {said}; intertask writes only to a new path"):
        with atomic_output(path) as tmp:
            tmp.write_text("x")
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({path.name, *(["target.csv"] if kind == "symlink" else [])})
    if kind == "symlink":
        assert (tmp_path / "target.csv").read_text() == "keep me\n"


def test_output_below_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(IntertaskError, match="^report .*afile is a file, not a folder; choose another path") as raised:
        check_output_file(tmp_path / "afile" / "sub" / "r.html", "report")
    assert raised.value.parameter == "report"


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
    assert run(["study", "export", "--store", str(finished_store), "--out", str(fifo)]) == 2
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


# ---- 2. a failed `study run` changes nothing ------------------------------------------------
def _config_variant(tmp_path, tiny_config, old: str, new: str):
    path = tmp_path / "variant.toml"
    text = tiny_config.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


BAD_STUDIES = [
    ('backbone = "tiny-encoder"', 'backbone = "{tmp}"', "cannot load backbone"),
    ('targets = ["toy_topic2"]', 'targets = ["../../no/such/file.csv"]', "'../../no/such/file.csv' does not exist"),
    ('targets = ["toy_topic2"]', 'targets = ["hf:../../x"]', "'../../x' does not exist"),
    ("eval_every = 2\n", 'eval_every = 2\noptions = { weight_decay = "x" }\n', "weight_decay must be a number"),
    ("prompt_length = 4", "prompt_length = 600", "prompt_length 600 + max_length 32 exceed the 512 positions"),
    ("target_seeds = [0]", "target_seeds = [4294967296]", "target_seeds"),
]


@pytest.mark.parametrize("old, new, said", BAD_STUDIES)
def test_a_study_that_cannot_start_leaves_no_store(tmp_path, capsys, tiny_config, old, new, said):
    config = _config_variant(tmp_path, tiny_config, old, new.replace("{tmp}", str(tmp_path)))
    assert run(["study", "run", str(config), "--store", str(tmp_path / "store")]) == 2
    one_error_line(capsys, said)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("old, new, said", BAD_STUDIES[:1] + BAD_STUDIES[3:5])
def test_a_failed_start_keeps_the_recorded_plan(tmp_path, capsys, tiny_config, finished_store, old, new, said):
    import shutil

    from intertask.study.runner import study_status
    from intertask.study.store import Store

    store = tmp_path / "store"
    shutil.copytree(finished_store, store)
    before, status = Store(store).plan(), study_status(store)
    config = _config_variant(tmp_path, tiny_config, old, new.replace("{tmp}", str(tmp_path)))
    assert run(["study", "run", str(config), "--store", str(store)]) == 2
    one_error_line(capsys, said)
    assert Store(store).plan() == before and study_status(store) == status


def test_failed_runs_make_study_run_exit_non_zero(tmp_path, capsys, tiny_config):
    bad = tmp_path / "one_label.csv"
    bad.write_text("text,label\n" + "".join(f"sentence {i},yes\n" for i in range(40)))
    config = _config_variant(tmp_path, tiny_config, 'targets = ["toy_topic2"]', f'targets = ["{bad}"]')
    assert run(["study", "run", str(config), "--store", str(tmp_path / "store"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: 2 of 3 runs failed" in err and "Traceback" not in err


# ---- 3. a damaged store --------------------------------------------------------------------
def _damage(db, how: str) -> None:
    data = db.read_bytes()
    if how == "truncated":
        db.write_bytes(data[:1000])
    elif how == "empty":
        db.write_bytes(b"")
    elif how == "header":
        db.write_bytes(b"garbage garbage!" + data[16:])
    elif how == "pages":
        db.write_bytes(data[:4096] + os.urandom(len(data) - 4096))


@pytest.mark.parametrize("how", ["truncated", "empty", "header", "pages"])
def test_a_damaged_store_is_one_line_in_every_command(tmp_path, capsys, finished_store, tiny_config, how):
    import hashlib
    import shutil

    store = tmp_path / "store"
    shutil.copytree(finished_store, store)
    for extra in ("study.sqlite-wal", "study.sqlite-shm"):
        (store / extra).unlink(missing_ok=True)
    db = store / "study.sqlite"
    _damage(db, how)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    commands = [["study", "status", "--store", str(store)],
                ["study", "export", "--store", str(store), "--out", str(tmp_path / "m.csv")],
                ["evaluate", "--store", str(store), "--methods", "data_size"],
                ["report", "--store", str(store), "--out", str(tmp_path / "rep")]]
    if how != "empty":  # `study run` on a 0-byte database makes a new one: that is fine
        commands.append(["study", "run", str(tiny_config), "--store", str(store), "--quiet"])
    for argv in commands:
        code = run(argv)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if not line.startswith("note: ")]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (argv, err)
        assert "study.sqlite" in lines[0] and ("damaged" in lines[0] or "no study" in lines[0]), (argv, err)
    assert run(["study", "check", "--store", str(store)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("damaged: ") and "Traceback" not in out
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest  # nothing changed it
    assert not (tmp_path / "m.csv").exists() and not (tmp_path / "rep").exists()


def test_study_check_passes_an_intact_store_and_names_a_lost_artifact(tmp_path, capsys, finished_store):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(finished_store, store)
    assert run(["study", "check", "--store", str(store)]) == 0
    assert "is intact: 1 studies, 3 runs" in capsys.readouterr().out
    next((store / "artifacts").iterdir()).unlink()
    assert run(["study", "check", "--store", str(store)]) == 1
    assert "is missing or altered; `intertask study run` redoes it" in capsys.readouterr().out


# ---- 4. data values and input files -------------------------------------------------------
def _rows(n=40, label=lambda i: ["pos", "neg"][i % 2], text=lambda i: f"sentence number {i}"):
    return [{"text": text(i), "label": label(i)} for i in range(n)]


def _jsonl(path, rows):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _csv(path, rows, columns=("text", "label")):
    path.write_text(",".join(columns) + "\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows))
    return path


BAD_DATA = [
    ("nan.csv", lambda p: _csv(p, _rows(label=lambda i: "nan" if i == 7 else i % 2)), "train row 8 has a missing (NaN)"),
    ("inf.csv", lambda p: _csv(p, _rows(label=lambda i: "inf" if i == 3 else i % 2)), "train row 4 has a missing (NaN) or infinite"),
    ("list.jsonl", lambda p: _jsonl(p, _rows(label=lambda i: ["pos"] if i == 5 else "neg")), "train row 6 has a list, not a single value in 'label'"),
    ("nulllabel.jsonl", lambda p: _jsonl(p, _rows(label=lambda i: None if i == 2 else "neg")), "train row 3 has no value in 'label'"),
    ("nulltext.jsonl", lambda p: _jsonl(p, _rows(text=lambda i: None if i == 9 else "x")), "train row 10 has no value in 'text'"),
    ("empty_texts.csv", lambda p: _csv(p, _rows(text=lambda i: " ")), "has no usable text (every train text is empty)"),
]


@pytest.mark.parametrize("name, make, said", BAD_DATA)
@pytest.mark.parametrize("command", ["train", "tasks show"])
def test_bad_data_values_are_one_line(tmp_path, capsys, name, make, said, command):
    path = make(tmp_path / name)
    argv = (["train", "--task", str(path), "--backbone", "tiny-encoder", "--steps", "1", "--device", "cpu"]
            if command == "train" else ["tasks", "show", str(path)])
    assert run(argv) == 2
    one_error_line(capsys, said)


def test_recommend_and_train_share_the_empty_text_check(tmp_path):
    from intertask.recommend.recommend import load_target
    from intertask.tasks.registry import get_task

    path = _csv(tmp_path / "empty.csv", _rows(text=lambda i: ""))
    for load in (get_task, load_target):
        with pytest.raises(IntertaskError, match="'empty' has no usable text"):
            load(str(path))


@pytest.mark.parametrize("options, said", [({"text_column": "label"}, "text_column and label_column are both 'label'"),
                                           ({"text_column": ""}, "text_column is empty; name a column")])
def test_column_options_that_cannot_work(tmp_path, options, said):
    from intertask.tasks.loaders import load_file

    with pytest.raises(IntertaskError, match=said):
        load_file(_csv(tmp_path / "ok.csv", _rows()), **options)


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_non_regular_input_files_are_refused_up_front(tmp_path, capsys, kind):
    path = tmp_path / "data.csv"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: reading it would block forever
    else:
        path.symlink_to("/dev/zero")  # reading it would never end
    assert run(["tasks", "show", str(path)]) == 2
    one_error_line(capsys, "is not a regular file")


def test_input_size_is_bounded(tmp_path, monkeypatch):
    from intertask.tasks import loaders

    monkeypatch.setattr(loaders, "MAX_INPUT_BYTES", 100)
    with pytest.raises(IntertaskError, match="intertask reads data files up to"):
        loaders.read_records(_csv(tmp_path / "big.csv", _rows()))


def test_messages_never_echo_a_file_that_is_not_a_table(tmp_path, capsys):
    secret = tmp_path / "shadow"
    secret.write_text("root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n")
    (tmp_path / "s.csv").symlink_to(secret)
    assert run(["tasks", "show", str(tmp_path / "s.csv")]) == 2
    err = one_error_line(capsys, "does not look like a header")
    assert "root" not in err and "99999" not in err


# ---- 5. options ----------------------------------------------------------------------------
TRAIN = ["train", "--task", "toy_topic2", "--backbone", "tiny-encoder", "--steps", "1", "--device", "cpu"]


@pytest.mark.parametrize("extra, said", [
    (["--seed", "-1"], "TrainConfig.seed must be in [0, 4294967295], got -1"),
    (["--seed", "99999999999999999999"], "TrainConfig.seed must be in [0, 4294967295]"),
    (["--device", "tpu"], "unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"),
    (["--prompt-length", "600"], "prompt_length 600 + max_length 128 exceed the 512 positions of backbone 'tiny-encoder'"),
    (["--steps", "abc"], "Invalid value for '--steps'"),
    (["--text-column", "text"], "No such option: --text-column (see `intertask train --help`)"),
])
def test_bad_train_options_are_one_error_line(tmp_path, capsys, extra, said):
    assert run(TRAIN + extra + ["--out", str(tmp_path / "p.safetensors")]) == 2
    one_error_line(capsys, said)
    assert not (tmp_path / "p.safetensors").exists()


def test_typer_range_errors_are_one_error_line(tmp_path, capsys):
    assert run(["evaluate", "--store", str(tmp_path), "--k", "0"]) == 2
    one_error_line(capsys, "Invalid value for '--k'")


def test_ctrl_c_says_interrupted_and_exits_130(monkeypatch, capsys, finished_store):
    from intertask.study import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "study_status", interrupted)
    assert run(["study", "status", "--store", str(finished_store)]) == 130
    err = capsys.readouterr().err
    assert "interrupted; finished work is kept" in err and "run the same command again" in err
    assert "Traceback" not in err and "Aborted" not in err


# ---- 6. disk full --------------------------------------------------------------------------
@pytest.fixture
def disk_full(monkeypatch):
    """Every write through `Path.write_bytes`/`write_text` and pandas' `to_csv` fails with ENOSPC."""
    import pathlib

    import pandas as pd

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    for name in ("write_bytes", "write_text"):
        monkeypatch.setattr(pathlib.Path, name, full)
    monkeypatch.setattr(pd.DataFrame, "to_csv", full)


def test_disk_full_in_a_writer_is_one_line_and_leaves_nothing(tmp_path, disk_full):
    from intertask.report._page import write_files

    out = tmp_path / "new" / "deeper" / "m.csv"
    with pytest.raises(IntertaskError, match=r"^out '.*m.csv': cannot write \(No space left on device\); nothing "
                                             r"was written"):
        with atomic_output(out) as tmp:
            tmp.write_text("x")
    with pytest.raises(IntertaskError, match="^report .*cannot write"):
        write_files({tmp_path / "rep" / "a.png": b"a", tmp_path / "rep" / "r.html": b"b"}, "report")
    assert list(tmp_path.iterdir()) == []  # no temporary file, no folder made for it


def test_disk_full_in_study_export_and_train(tmp_path, capsys, finished_store, disk_full):
    assert run(["study", "export", "--store", str(finished_store), "--out", str(tmp_path / "m.csv")]) == 2
    one_error_line(capsys, "No space left on device")
    assert run(TRAIN + ["--out", str(tmp_path / "p" / "p.safetensors")]) == 2
    one_error_line(capsys, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_when_a_store_is_created_leaves_no_store(tmp_path, capsys, tiny_config, monkeypatch):
    import sqlite3

    from intertask.study.store import Store

    def full(self, write):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "_connect", full)
    assert run(["study", "run", str(tiny_config), "--store", str(tmp_path / "store")]) == 2
    one_error_line(capsys, "cannot write study.sqlite (database or disk is full); free space")
    assert not (tmp_path / "store").exists()


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory, finished_store):
    """A library built from `finished_store` (one source; do not modify it, copy it first)."""
    from intertask.recommend import build_library

    return build_library(finished_store, tmp_path_factory.mktemp("library") / "lib")


@pytest.mark.parametrize("failing", ["json", "safetensors"])
def test_disk_full_in_library_build_is_one_line_and_leaves_nothing(tmp_path, capsys, finished_store, disk_full,
                                                                   monkeypatch, failing):
    import safetensors.numpy
    from safetensors import SafetensorError

    if failing == "safetensors":  # what safetensors raises itself on a full disk
        def full(*args, **kwargs):
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

        monkeypatch.setattr(safetensors.numpy, "save_file", full)
    out = tmp_path / "new" / "lib"
    assert run(["library", "build", "--store", str(finished_store), "--out", str(out), "--device", "cpu"]) == 2
    one_error_line(capsys, f"--out {str(out)!r}: cannot write (", "No space left on device", "nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_in_library_add_esm_changes_nothing(tmp_path, capsys, tiny_library, request):
    import shutil

    copy = shutil.copytree(tiny_library, tmp_path / "lib")
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    request.getfixturevalue("disk_full")
    assert run(["library", "add-esm", str(copy), "--device", "cpu"]) == 2
    one_error_line(capsys, "library '", "cannot write (No space left on device)")
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_disk_full_in_recommend_report_prints_the_recommendation_first(tmp_path, capsys, tiny_library, disk_full):
    import json

    report = tmp_path / "rep" / "r.html"
    assert run(["recommend", "--target", "toy_topic2", "--library", str(tiny_library), "--budget-steps", "2",
                "--seeds", "2", "--device", "cpu", "--methods", "max_pairwise,data_size", "--json",
                "--report", str(report)]) == 2
    out, err = capsys.readouterr()
    assert [row["source"] for row in json.loads(out)["ranking"]] == ["toy_sentiment_food"]
    errors = [line for line in err.splitlines() if not line.startswith("note: ")]
    assert len(errors) == 1 and errors[0].startswith("error: --report") and "No space left on device" in errors[0], err
    assert list(tmp_path.iterdir()) == []


# ---- 7. artifacts and libraries edited by hand -----------------------------------------------
def _edited_prompt(source, path, edit_meta=lambda meta: None, edit_tensors=lambda tensors: None, old_format=True):
    """A copy of the prompt file `source` at `path` with its metadata and tensors edited; signed with
    the older tensors-only checksum (`old_format`, as files written before), or left as it was."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from intertask.training.artifacts import TENSORS_ONLY_FORMAT, artifact_sha256

    with safe_open(str(source), framework="pt") as f:
        meta = json.loads(f.metadata()["intertask"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    edit_meta(meta)
    edit_tensors(tensors)
    if old_format:
        meta.update(format=TENSORS_ONLY_FORMAT, sha256=artifact_sha256(tensors))
    save_file(tensors, str(path), metadata={"intertask": json.dumps(meta)})
    return path


def test_a_prompts_checksum_covers_its_metadata(tmp_path, prompt_file):
    from intertask.training.artifacts import load_artifact

    edited = _edited_prompt(prompt_file, tmp_path / "e.safetensors", lambda meta: meta.update(seed=7),
                            old_format=False)
    with pytest.raises(IntertaskError, match="fails its checksum: the file is corrupted or was edited"):
        load_artifact(edited)
    old = load_artifact(_edited_prompt(prompt_file, tmp_path / "old.safetensors", lambda meta: meta.update(seed=7)))
    assert old.seed == 7  # a file of the older format (stores written before) still loads
    assert load_artifact(prompt_file).seed == 0


def _set(key, value):
    return lambda d: d.update({key: value})


HAND_EDITS = [
    (_set("seed", "abc"), None, "field 'seed' must be an integer, got \"abc\""),
    (_set("history", [1, 2]), None, "field 'history' must be a list of [step, score] pairs"),
    (_set("validation_score", "high"), None, "field 'validation_score' must be a number"),
    (_set("test_metrics", "x"), None, "field 'test_metrics' must be an object of numbers"),
    (_set("hidden_size", "32"), None, "field 'hidden_size' must be a positive integer"),
    (lambda meta: meta.pop("config"), None, "field 'config' is missing"),
    (None, lambda t: t.update({"snapshot.abc": t["prompt"].clone()}), "unexpected tensor 'snapshot.abc'"),
    (None, lambda t: t["prompt"].__setitem__((0, 0), float("nan")), "tensor 'prompt' holds NaN or infinite values"),
    (None, lambda t: t["head.bias"].fill_(float("inf")), "tensor 'head.bias' holds NaN or infinite values"),
]


@pytest.mark.parametrize("edit_meta, edit_tensors, said", HAND_EDITS)
@pytest.mark.parametrize("command", [["prompts", "show"], ["prompts", "export"]])
def test_a_hand_edited_prompt_is_one_line_naming_the_file_and_field(tmp_path, capsys, prompt_file, command,
                                                                      edit_meta, edit_tensors, said):
    edited = _edited_prompt(prompt_file, tmp_path / "e.safetensors", edit_meta or (lambda m: None),
                            edit_tensors or (lambda t: None))
    extra = ["--out", str(tmp_path / "adapter")] if command[1] == "export" else []
    assert run(command + [str(edited)] + extra) == 2
    one_error_line(capsys, f"{edited}: {said}", "the file is corrupted or was edited")
    assert not (tmp_path / "adapter").exists()


def test_a_hidden_size_mismatch_names_both_sizes(tmp_path, prompt_file):
    from intertask.backbones import load_backbone
    from intertask.training.artifacts import export_peft, load_artifact

    artifact = load_artifact(prompt_file)
    artifact.hidden_size = 64
    with pytest.raises(IntertaskError, match=r"trained on 'tiny-encoder' \(hidden size 64\), not on 'tiny-encoder' "
                                             r"\(hidden size 32\)"):
        export_peft(artifact, tmp_path / "adapter", backbone=load_backbone("tiny-encoder"))


def _edited_library(library, tmp_path, file: str, edit):
    """A copy of `library` with `edit` applied to its parsed `file` (JSON or safetensors); the file's
    checksum in manifest.json is updated, as a deliberate edit would."""
    import json
    import shutil

    from safetensors.numpy import load_file, save_file

    from intertask.paths import sha256_file

    copy = shutil.copytree(library, tmp_path / "lib")
    path = copy / file
    data = json.loads(path.read_text()) if file.endswith(".json") else load_file(str(path))
    edit(data)
    path.write_text(json.dumps(data)) if file.endswith(".json") else save_file(data, str(path))
    if file != "manifest.json":
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["files"][file] = sha256_file(path)
        (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def _source(key, value):
    return lambda manifest: manifest["sources"][0].update({key: value})


def _training(key, value):
    return lambda manifest: manifest.setdefault("training", {}).update({key: value})


def _first_vocabulary_count(value):
    return lambda profiles: next(iter(profiles.values()))["vocabulary"][0].__setitem__(1, value)


def _poison(key, value):
    return lambda tensors: tensors[key].__setitem__((0,) * tensors[key].ndim, value)


SOURCE = "toy_sentiment_food"  # the one source of `tiny_library` (its history is empty)


def _transfer(**bad):
    row = dict(target="toy_topic2", source=SOURCE, seed=0, score=60.0, baseline=55.0, gain=5.0)
    return lambda rows: rows.append({**row, **bad})
LIBRARY_EDITS = [
    ("manifest.json", _set("files", ["prompts.safetensors"]), "manifest.json field 'files' must be an object of checksums"),
    ("manifest.json", _set("backbone", "minilm"), "manifest.json field 'backbone' must be an object"),
    ("manifest.json", lambda m: m["backbone"].update(hidden_size="32"),
     "manifest.json field 'backbone.hidden_size' must be a positive integer"),
    ("manifest.json", _training("evil", 1), "manifest.json field 'training' must be an object of max_length"),
    ("manifest.json", _training("backbone", "x"), "manifest.json field 'training' must be an object of max_length"),
    ("manifest.json", _training("batch_size", "x"), "manifest.json field 'training' holds a bad value"),
    ("manifest.json", _set("sources", ["a"]), "manifest.json field 'sources' must be a list of objects"),
    ("manifest.json", _source("seeds", ["a"]), "manifest.json field 'sources[0].seeds' must be a non-empty list"),
    ("history.json", _transfer(score="lots"), "history.json: column 'score' must hold numbers; got 'lots'"),
    ("history.json", _transfer(score=float("inf")), "history.json: column 'score' must hold numbers; got inf"),
    ("history.json", _transfer(baseline=None), "history.json field '[0].baseline' is missing"),
    ("profiles.json", _first_vocabulary_count(10**9),
     f"profiles.json field '{SOURCE}.vocabulary' counts 1000000"),
    ("profiles.json", _first_vocabulary_count("many"),
     f"profiles.json field '{SOURCE}.vocabulary' must be a list of [word, count] pairs"),
    ("prompts.safetensors", _poison(f"{SOURCE}/0", float("nan")),
     f"prompts.safetensors holds NaN or infinite values in '{SOURCE}/0'"),
    ("profiles.safetensors", _poison(f"source/{SOURCE}", float("inf")),
     f"profiles.safetensors holds NaN or infinite values in 'source/{SOURCE}'"),
    ("esm_maps.safetensors", _poison(f"esm/{SOURCE}", float("nan")),
     f"esm_maps.safetensors holds NaN or infinite values in 'esm/{SOURCE}'"),
]


@pytest.mark.parametrize("file, edit, said", LIBRARY_EDITS)
def test_a_hand_edited_library_is_one_line_naming_the_file_and_field(tmp_path, capsys, tiny_library, file, edit, said):
    edited = _edited_library(tiny_library, tmp_path, file, edit)
    assert run(["library", "show", str(edited)]) == 2
    one_error_line(capsys, f"library {str(edited)!r}: {said}", "rebuild the library")


MODEL = {"features": ["data_size", "expected_gain"], "weights": [0.5, 0.5], "intercept": 0.0, "alpha": 1.0}
RULE = {"format": "intertask.rule/1", "rule": "learned", "fallback": "data_size", "members": ["data_size"],
        "reason": "r", "model": MODEL}
COMBINATION_EDITS = [
    ([1, 2, 3], "combination.json must be an object, got list"),
    ("use", "combination.json must be an object, got str"),
    ({"use": True, "reason": "r", "model": MODEL}, "combination.json field 'format' is missing"),  # the old format
    ({**RULE, "format": "intertask.rule/0"}, "combination.json field 'format' must be 'intertask.rule/1'"),
    ({k: v for k, v in RULE.items() if k != "fallback"}, "combination.json field 'fallback' is missing"),
    ({**RULE, "rule": "oracle"}, "combination.json field 'rule' names 'oracle', which is neither a rule nor one"),
    ({**RULE, "fallback": "expected_gain"}, "combination.json field 'fallback' must not read the history"),
    ({**RULE, "members": "data_size"}, "combination.json field 'members' must be a list of method names"),
    ({**RULE, "min_similarity": "high"}, "combination.json field 'min_similarity' must be a number or null"),
    ({**RULE, "calibration": {"brier": "low"}}, "combination.json field 'calibration' must be an object of numbers"),
    ({**RULE, "reason": "A" * 20_000}, "combination.json field 'reason' must be a string of at most 10000"),
    ({**RULE, "reason": "A" * 1_100_000}, "combination.json is larger than 1000000 bytes"),
    ({**RULE, "model": None}, "combination.json model must be an object, got null"),
    ({**RULE, "model": {**MODEL, "weights": [float("nan"), 1.0]}},
     "combination.json field 'model.weights' must be a list of finite numbers"),
    ({**RULE, "model": {**MODEL, "weights": [1.0]}},
     "combination.json field 'model.weights' must hold one weight per feature (2)"),
    ({**RULE, "model": {**MODEL, "intercept": "0"}}, "combination.json field 'model.intercept' must be a finite number"),
    ({**RULE, "model": {**MODEL, "features": "data_size"}},
     "combination.json field 'model.features' must be a non-empty list of strings"),
]


@pytest.mark.parametrize("combination, said", COMBINATION_EDITS)
def test_a_hand_edited_combination_is_one_line(tmp_path, capsys, tiny_library, combination, said):
    def add(manifest):
        (tmp_path / "lib" / "combination.json").write_text(json.dumps(combination))
        manifest["files"]["combination.json"] = sha256_file(tmp_path / "lib" / "combination.json")

    from intertask.paths import sha256_file

    edited = _edited_library(tiny_library, tmp_path, "manifest.json", add)
    assert run(["library", "show", str(edited)]) == 2
    one_error_line(capsys, f"library {str(edited)!r}: {said}", f"intertask library add-combination {edited}")


def test_a_sound_rule_loads(tmp_path, capsys, tiny_library):
    def add(manifest):
        (tmp_path / "lib" / "combination.json").write_text(json.dumps(RULE))
        manifest["files"]["combination.json"] = sha256_file(tmp_path / "lib" / "combination.json")

    from intertask.paths import sha256_file

    edited = _edited_library(tiny_library, tmp_path, "manifest.json", add)
    assert run(["library", "show", str(edited)]) == 0
    assert "ranking rule: learned (fallback data_size): r" in capsys.readouterr().out


def test_a_history_row_given_twice_is_one_line(tmp_path, capsys, tiny_library):
    def twice(rows):
        _transfer()(rows)
        _transfer()(rows)

    edited = _edited_library(tiny_library, tmp_path, "history.json", twice)
    assert run(["library", "show", str(edited)]) == 2
    one_error_line(capsys, f"library {str(edited)!r}: history.json has more than one row for setting 'default', "
                           f"target 'toy_topic2', source '{SOURCE}', seed 0", "rebuild the library")


def test_json_nested_thousands_deep_is_one_line(tmp_path, capsys, tiny_library, prompt_file):
    import shutil

    from safetensors.torch import load_file, save_file

    deep = "[" * 100_000 + "]" * 100_000
    library = shutil.copytree(tiny_library, tmp_path / "lib")
    (library / "manifest.json").write_text(deep)
    assert run(["library", "show", str(library)]) == 2
    one_error_line(capsys, "manifest.json is unreadable")
    prompt = tmp_path / "deep.safetensors"
    save_file(load_file(str(prompt_file)), str(prompt), metadata={"intertask": deep})
    assert run(["prompts", "show", str(prompt)]) == 2
    one_error_line(capsys, f"{prompt} has malformed intertask metadata")
    data = tmp_path / "deep.jsonl"
    data.write_text('{"text": "fine", "label": "a"}\n' + deep + "\n")
    assert run(["tasks", "show", str(data)]) == 2
    one_error_line(capsys, f"{data} line 2: nests lists or objects too deeply to read")


def test_recommend_refuses_a_hand_edited_library_before_training(tmp_path, capsys, tiny_library):
    edited = _edited_library(tiny_library, tmp_path, "manifest.json", _training("evil", 1))
    assert run(["recommend", "--target", "toy_topic2", "--library", str(edited), "--device", "cpu"]) == 2
    one_error_line(capsys, "manifest.json field 'training' must be an object of")


# ---- 8. bounded work -----------------------------------------------------------------------
def test_a_grid_of_millions_of_runs_is_refused_before_planning(tmp_path, capsys, tiny_study_toml):
    config = tmp_path / "huge.toml"
    config.write_text(tiny_study_toml(name="huge", source_seeds=range(1000), target_seeds=range(1000)))
    assert run(["study", "run", str(config), "--store", str(tmp_path / "store")]) == 2
    one_error_line(capsys, "the grid plans 4,004,000 runs (2 sources x 1000 seeds, 2 targets x 1000 seeds, and their "
                           "transfers), more than the 100,000 one study may hold")
    assert not (tmp_path / "store").exists()


def test_toml_nesting_thousands_of_brackets_is_one_line(tmp_path, capsys, tiny_config):
    config = tmp_path / "deep.toml"
    config.write_text(tiny_config.read_text() + "\n[extra]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    assert run(["study", "run", str(config), "--store", str(tmp_path / "store")]) == 2
    one_error_line(capsys, f"study config {str(config)!r} nests arrays or tables too deeply to read")
    assert not (tmp_path / "store").exists()
