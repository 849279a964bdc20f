"""Hostile and unlucky inputs, round 3 (issue 20): the groups of the reliability report of 2026-12-04,
each replayed on tiny inputs made here: one `error:` line and exit 2, or the valid input working."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError

from test_hostile_inputs import _csv, _rows, one_error_line, tiny_library  # noqa: F401 (a fixture)

SRC = str(Path(__file__).resolve().parents[1] / "src")


# ---- N1. prediction pickles: plain data that would crash or break the reader ------------------
DEEP = 200_000


def _deep_list() -> bytes:
    """{"a": {"b": [[[…]]]}} nested `DEEP` lists deep, written opcode by opcode (pickle.dumps would recurse)."""
    return b"\x80\x04}\x8c\x01a}\x8c\x01b" + b"]" * DEEP + b"a" * (DEEP - 1) + b"ss."


def _self_containing() -> bytes:
    inner: list = []
    inner.append(inner)
    return pickle.dumps({"a": {"b": inner}})


PICKLES = [
    ("deeplist", _deep_list, "nested more than 100 levels deep"),
    ("bigint", lambda: pickle.dumps({"a": {"b": 10**400}}), "an integer of 1329 bits"),
    ("bigint_protocol0", lambda: pickle.dumps({"a": {"b": 10**400}}, protocol=0), "an integer of 1329 bits"),
    ("selfref", _self_containing, "a self-referencing structure"),
    ("list", lambda: pickle.dumps([0.5, 0.2]), "must hold a non-empty dict of scores, got list"),
    ("strscore", lambda: pickle.dumps({"a": {"b": "x" * 10_000}}), "must be a finite number, got 'xxxxxxxx"),
]
MATRIX = "target,source,seed,score\na,b,0,50\na,c,0,60\nb,a,0,40\nb,c,0,45\n"


@pytest.fixture
def matrix_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(MATRIX)
    return path


@pytest.mark.parametrize("name, make, said", PICKLES)
def test_plain_data_that_breaks_a_reader_is_one_line(tmp_path, capsys, matrix_csv, name, make, said):
    scores = tmp_path / f"{name}.p"
    scores.write_bytes(make())
    assert run(["evaluate", "--matrix", str(matrix_csv), "--k", "1", "--predictions", f"a={scores}"]) == 2
    err = one_error_line(capsys, said)
    assert len(err) < 500, err  # a bounded message, not the value


def test_a_deeply_nested_dict_key_is_refused_before_the_unpickler_hashes_it(tmp_path, matrix_csv):
    """A tuple 300,000 deep as a dict key overflowed the C stack while SETITEM hashed it: SIGSEGV. In a child
    process, so that a regression fails this test instead of killing the test run."""
    scores = tmp_path / "deeptuplekey.p"
    scores.write_bytes(b"\x80\x04}\x8c\x01x" + b"\x85" * 300_000 + b"G?\xf0\0\0\0\0\0\0s.")
    done = subprocess.run([sys.executable, "-m", "intertask", "evaluate", "--matrix", str(matrix_csv), "--k", "1",
                           "--predictions", f"a={scores}"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": SRC})
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "nested more than 100 levels deep" in done.stderr, done.stderr


def test_plain_pickles_of_scores_and_arrays_still_load(tmp_path):
    from intertask.matrix.safe_pickle import load_plain

    data = {"a": {"b": 0.5, "c": (np.float64(0.2), [1, 2])}, ("x", "y"): np.arange(3.0), "o": {1, 2},
            "f": frozenset({("p", "q")}), "shared": [[0.1]] * 3}
    for protocol in (0, 2, 4, 5):
        path = tmp_path / f"ok{protocol}.p"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        loaded = load_plain(path)
        assert loaded["a"] == data["a"] and loaded["o"] == {1, 2} and loaded["shared"] == [[0.1]] * 3
        assert loaded[("x", "y")].tolist() == [0.0, 1.0, 2.0]


# ---- N2. import taskweb: a hostile clone ---------------------------------------------------
RUN = "data/taskweb/results/rte/cb/t5l-e10-lr1e4-b8-s0"


def _clone(root: Path) -> Path:
    """A TaskWeb clone of two transfers (rte ← cb, cb ← rte), one seed each."""
    for run_dir in (RUN, "data/taskweb/results/cb/rte/t5l-e10-lr1e4-b8-s0"):
        (root / run_dir).mkdir(parents=True)
        (root / run_dir / "eval_results.json").write_text('{"eval_accuracy": 0.7, "eval_f1": 0.6}')
    return root


def _eval_results(replace):
    def edit(root: Path):
        path = root / RUN / "eval_results.json"
        path.unlink()
        replace(path)
    return edit


def _write(relative: str, data):
    def edit(root: Path):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return edit


def _rename_run(new: str):
    return lambda root: (root / RUN).rename(root / RUN.rsplit("/", 1)[0] / new)


def _selfloop(root: Path):
    (root / "data/taskweb/results/selfloop").symlink_to("selfloop")


def _non_utf8_folder(root: Path):
    os.rename(root / "data/taskweb/results/cb", os.fsencode(root / "data/taskweb/results") + b"/bad\xff")


CLONES = [
    ("fifo", _eval_results(os.mkfifo), "eval_results.json is a FIFO, not a regular file"),
    ("devzero", _eval_results(lambda p: p.symlink_to("/dev/zero")), "is a character device, not a regular file"),
    ("dangling", _eval_results(lambda p: p.symlink_to("nowhere")), "is a symlink to nothing"),
    ("deep_json", _write(f"{RUN}/eval_results.json", "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("deep_config", _write("configs/t5l_finetune.json", "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("fifo_config", lambda root: (root / "configs").mkdir() or os.mkfifo(root / "configs/t5l_finetune.json"),
     "t5l_finetune.json is a FIFO, not a regular file"),
    ("bigint_metric", _write(f"{RUN}/eval_results.json", '{"eval_accuracy": 1' + "0" * 400 + "}"),
     "eval_accuracy is a 401-digit integer"),
    ("hugeint_metric", _write(f"{RUN}/eval_results.json", '{"eval_accuracy": 1' + "0" * 5000 + "}"),
     "not a readable JSON file (Exceeds the limit"),
    ("huge_seed", _rename_run("t5l-e10-lr1e4-b8-s99999999999999999999999"), "seed 99999999999999999999999 is not a seed"),
    ("arabic_digit_seed", _rename_run("t5l-e10-lr1e4-b8-s\u0661"), "not a TaskWeb run folder"),
    ("selfloop", _selfloop, "selfloop: cannot follow it (Too many levels of symbolic links)"),
    ("non_utf8_name", _non_utf8_folder, "the folder name 'bad\\udcff' is not UTF-8"),
    ("labels_list", _write("data/taskweb/taskweb.p", pickle.dumps([1, 2])), "found a list"),
    ("labels_bigint", _write("data/taskweb/taskweb.p", pickle.dumps({("rte", "cb"): (0.1, {("finetune", "t5l"): (10**400, 0.5)})})),
     "an integer of 1329 bits"),
    ("labels_strkey", _write("data/taskweb/taskweb.p", pickle.dumps({"ab": (0.1, {("finetune", "t5l"): (0.1, 0.5)})})),
     "the key is a str, not a (target, source) tuple"),
    ("labels_fifo", lambda root: os.mkfifo(root / "data/taskweb/taskweb.p"), "taskweb.p is a FIFO, not a regular file"),
]


@pytest.mark.parametrize("name, edit, said", CLONES)
def test_a_hostile_taskweb_clone_is_one_line(tmp_path, capsys, name, edit, said):
    root = _clone(tmp_path / "TaskWeb")
    edit(root)
    out = tmp_path / "m.parquet"
    assert run(["import", "taskweb", str(root), "--out", str(out)]) == 2
    one_error_line(capsys, said)
    assert not out.exists()


def test_the_small_clone_imports(tmp_path):
    from intertask.matrix.taskweb import read_taskweb

    matrix = read_taskweb(_clone(tmp_path / "TaskWeb"))
    assert sorted(zip(matrix["target"], matrix["source"], matrix["score"].round(6))) == [("cb", "rte", 65.0),
                                                                                         ("rte", "cb", 70.0)]


# ---- N9. study phase options: checked by TrainConfig when the config is read ----------------------
@pytest.mark.parametrize("options, said", [
    ('{ class_weights = "yes" }', "TrainConfig.class_weights must be true or false, got 'yes'"),
    ("{ class_weights = 5 }", "TrainConfig.class_weights must be true or false, got 5"),
    ("{ class_weights = [1.0, 2.0] }", "TrainConfig.class_weights must be true or false, got [1.0, 2.0]"),
    ('{ grad_clip = "none" }', "TrainConfig.grad_clip must be a number or None, got 'none'"),
    ("{ patience = 0 }", "TrainConfig.patience must be >= 1 or None"),
    ("{ steps = 3 }", "training options set 'steps', which the study sets itself"),
    ("{ no_such_option = 1 }", "unknown TrainConfig field(s) no_such_option"),
])
def test_phase_options_are_checked_when_the_config_is_read(tmp_path, tiny_study_toml, options, said):
    from intertask.study.config import StudyConfig

    path = tmp_path / "study.toml"
    path.write_text(tiny_study_toml(target_options=options))
    with pytest.raises(IntertaskError, match="'target_training.options' .*" + said.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        StudyConfig.from_toml(path)


def test_valid_phase_options_still_load(tmp_path, tiny_study_toml):
    from intertask.study.config import StudyConfig
    from intertask.study.plan import plan_study

    path = tmp_path / "study.toml"
    path.write_text(tiny_study_toml(target_options='{ class_weights = true, head_init = "probe", patience = 2 }'))
    planned = plan_study(StudyConfig.from_toml(path))
    baseline = next(p for p in planned if p.kind == "baseline")
    assert baseline.train["class_weights"] is True and baseline.train["head_init"] == "probe"


# ---- the replay's leftovers (report: "Replay", N6, N10) -------------------------------------------
def test_an_empty_text_column_is_refused_by_recommend(tmp_path, capsys):
    target = _csv(tmp_path / "t.csv", _rows())
    assert run(["recommend", "--target", str(target), "--text-column", "", "--device", "cpu"]) == 2
    one_error_line(capsys, "text_column is empty; name a column")


def test_a_newline_in_a_path_stays_on_one_line(tmp_path, capsys):
    assert run(["tasks", "show", str(tmp_path / "two\nlines.csv")]) == 2
    one_error_line(capsys, "two\\nlines.csv")


def test_prompts_show_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    assert run(["prompts", "show", str(tmp_path)]) == 2
    one_error_line(capsys, "is a folder; pass a .safetensors file")


@pytest.mark.parametrize("target, said", [
    ("passwd", "unsupported file type '(none)'"),
    ("fifo.csv", "is not a regular file"),
    ("folder", "has no train file"),
])
def test_a_study_target_that_is_no_data_file_is_refused_before_training(tmp_path, capsys, tiny_study_toml, target,
                                                                        said):
    path = tmp_path / target
    if target == "passwd":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    elif target == "fifo.csv":
        os.mkfifo(path)
    else:
        path.mkdir()
    config = tmp_path / "study.toml"
    config.write_text(tiny_study_toml(targets=[str(path)], steps=2, eval_every=2, snapshot_steps=None))
    assert run(["study", "run", str(config), "--store", str(tmp_path / "store")]) == 2
    one_error_line(capsys, f"'targets' names '{path}'", said)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("labels, said", [
    (lambda i: f"label {i}", "each of its 200 examples has a label of its own"),
    (lambda i: ["a", "b"][i % 2], "the validation split is empty (5 examples in all"),
])
def test_why_a_split_is_empty(tmp_path, capsys, labels, said):
    target = _csv(tmp_path / "t.csv", _rows(n=200 if "200" in said else 5, label=labels))
    assert run(["tasks", "show", str(target)]) == 2
    one_error_line(capsys, said)


# ---- a library whose files are symlinks ------------------------------------------------------
def _symlinked_library(library, tmp_path, point_manifest_to=None):
    """A library folder whose every file is a symlink to the file of `library` (or, for manifest.json,
    to `point_manifest_to`)."""
    folder = tmp_path / "linked"
    folder.mkdir()
    for file in Path(library).iterdir():
        target = point_manifest_to if file.name == "manifest.json" and point_manifest_to else file
        (folder / file.name).symlink_to(target)
    return folder


def test_recommend_reads_a_library_through_symlinks_to_regular_files(tmp_path, capsys, tiny_library):
    linked = _symlinked_library(tiny_library, tmp_path)
    assert run(["recommend", "--target", "toy_topic2", "--library", str(linked), "--budget-steps", "1", "--seeds", "1",
                "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ranking"][0]["source"] == "toy_sentiment_food"


@pytest.mark.parametrize("points_to, said", [
    ("fifo", "manifest.json is a FIFO, not a regular file; rebuild the library"),
    ("/dev/zero", "manifest.json is a character device, not a regular file"),
    ("nowhere", "manifest.json is a symlink to nothing"),
    ("loop", "manifest.json cannot be read (Too many levels of symbolic links)"),
])
def test_recommend_refuses_a_library_file_that_leads_to_no_regular_file(tmp_path, capsys, tiny_library, points_to,
                                                                        said):
    target = {"fifo": tmp_path / "fifo", "/dev/zero": Path("/dev/zero"), "nowhere": tmp_path / "nowhere",
              "loop": tmp_path / "linked" / "manifest.json"}[points_to]
    if points_to == "fifo":
        os.mkfifo(target)
    linked = _symlinked_library(tiny_library, tmp_path, point_manifest_to=target)
    assert run(["recommend", "--target", "toy_topic2", "--library", str(linked), "--device", "cpu"]) == 2
    one_error_line(capsys, said)


# ---- N5. a large recommend target: the short runs read a stratified sample -------------------------
def test_recommend_trains_its_short_runs_on_a_sample_of_a_large_target(tmp_path, monkeypatch, tiny_library):
    import importlib

    rec = importlib.import_module("intertask.recommend.recommend")  # the module; the package exports the function
    seen = []
    real = rec.train_packed

    def recording(specs, *args, **kwargs):
        seen.extend(len(spec.task.train) for spec in specs)
        return real(specs, *args, **kwargs)

    monkeypatch.setattr(rec, "MAX_RUN_TRAIN", 30)
    monkeypatch.setattr(rec, "train_packed", recording)
    target = _csv(tmp_path / "large.csv", _rows(n=200, label=lambda i: ["pos", "neg", "neu", "rare"][i % 4 if i < 196 else 3]))
    result = rec.recommend(str(target), library_dir=tiny_library, budget_steps=1, seeds=2, progress=False,
                           device="cpu")
    from intertask.tasks.registry import get_task

    assert result.stats["n_train"] == len(get_task(str(target)).train) > 100  # what data_size and the profiles see
    assert seen == [result.stats["n_train_runs"]] * 2 and abs(seen[0] - 30) <= 4  # about 30: rounding per label


def test_a_stratified_sample_keeps_every_label():
    from intertask.tasks.loaders import stratified_sample
    from intertask.tasks.task import Example

    examples = [Example(f"t{i}", 0 if i < 990 else 1 + i % 3) for i in range(1000)]
    sample = stratified_sample(examples, 50, seed=0)
    assert 50 <= len(sample) <= 53 and {ex.label for ex in sample} == {0, 1, 2, 3}
    assert sample == stratified_sample(examples, 50, seed=0) and stratified_sample(examples, 5000) == examples


# ---- N7 (besides import table): small leftovers ------------------------------------------------------
def test_an_empty_target_list_says_so(capsys, matrix_csv):
    assert run(["evaluate", "--matrix", str(matrix_csv), "--targets", ","]) == 2
    one_error_line(capsys, "--targets are empty")


def test_a_prompt_longer_than_the_backbone_is_not_exported(tmp_path, capsys, prompt_file):
    from test_hostile_inputs import _edited_prompt

    def longer(tensors):  # 600 rows of the prompt: more than the tiny encoder's 512 positions
        tensors["prompt"] = tensors["prompt"].repeat(600 // tensors["prompt"].shape[0] + 1, 1)[:600].contiguous()

    def metadata(meta):  # consistent with the tensor, as a deliberate edit would make it
        meta["prompt_shape"][0] = meta["config"]["prompt_length"] = 600

    edited = _edited_prompt(prompt_file, tmp_path / "long.safetensors", metadata, longer)
    assert run(["prompts", "export", str(edited), "--out", str(tmp_path / "adapter")]) == 2
    one_error_line(capsys, "the prompt's prompt_length 600 + max_length 1 exceed the 512 positions")
    assert not (tmp_path / "adapter").exists()


@pytest.mark.parametrize("rows", ["a,b,0,50", "中文,b,0,50\n中文,c,0,50\nb,中文,0,50\nb,c,0,50"])
def test_report_on_a_tiny_or_unicode_matrix_prints_no_warnings(tmp_path, rows):
    import warnings

    matrix = tmp_path / "m.csv"
    matrix.write_text("target,source,seed,score\n" + rows + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(["report", "--matrix", str(matrix), "--out", str(tmp_path / "report")]) == 0
    assert not [w for w in caught if issubclass(w.category, UserWarning)], [str(w.message) for w in caught]
