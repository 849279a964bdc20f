"""Task lookup (`get_task`, `list_tasks`) and the `intertask tasks` commands."""

import csv
import json

import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.tasks import TOY_TASKS, Example, Task, TaskKind, get_task
from intertask.tasks.suite import SUITE_NAMES


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERTASK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_csv(path, n=40):
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sentence", "label"])
        writer.writerows([[f"sentence {i}", "yes" if i % 2 else "no"] for i in range(n)])
    return path


def test_validate_rejects_empty_split_and_bad_choice():
    ex = [Example("a", 0), Example("b", 1)]
    with pytest.raises(IntertaskError, match="the validation split is empty"):
        Task("t", TaskKind.CLASSIFICATION, ex, [], ex, labels=("x", "y")).validate()
    with pytest.raises(IntertaskError, match="test example 2 has label 2, not an index into its 2 labels"):
        Task("t", TaskKind.CLASSIFICATION, ex, ex, ex + [Example("c", 2)], labels=("x", "y")).validate()
    mc = [Example("q", 3, choices=("a", "b"))]
    with pytest.raises(IntertaskError, match="train example 0 has no valid answer"):
        Task("t", TaskKind.MULTIPLE_CHOICE, mc, mc, mc).validate()


def test_get_task_toy_file_and_hf(tmp_path):
    toy = get_task("toy_topic4")
    assert toy.name == "toy_topic4" and toy.num_labels == 4
    task = get_task(str(write_csv(tmp_path / "answers.csv")), text_column="sentence")
    assert task.labels == ("no", "yes") and task.sizes() == {"train": 28, "validation": 4, "test": 8}

    import datasets

    datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(30)], "label": [i % 3 for i in range(30)]}).save_to_disk(
        str(tmp_path / "saved"))
    hf = get_task(f"hf:{tmp_path / 'saved'}")
    assert hf.labels == ("0", "1", "2") and sum(hf.sizes().values()) == 30


def test_get_task_unknown_names():
    with pytest.raises(IntertaskError, match=r"unknown task 'toy_topic' \(did you mean: toy_topic4, toy_topic2"):
        get_task("toy_topic")
    with pytest.raises(IntertaskError, match=r"unknown task 'epistemic' .*did you mean: epistemic_reasoning"):
        get_task("epistemic")
    with pytest.raises(IntertaskError, match=r"file not found: data/missing\.csv"):
        get_task("data/missing.csv")


def test_cli_show_toy_json(capsys):
    assert run(["tasks", "show", "toy_sentiment_food", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"] == {"train": 64, "validation": 32, "test": 32}
    assert sum(info["label_distribution"]["train"].values()) == 64
    assert set(info["label_distribution"]["train"]) <= {"negative", "positive"}
    assert len(info["examples"]) == 3 and info["tags"] == ["sentiment"]


def test_cli_show_file_table(tmp_path, capsys):
    path = write_csv(tmp_path / "answers.csv")
    assert run(["tasks", "show", str(path), "--text-column", "sentence"]) == 0
    out = capsys.readouterr().out
    assert "answers" in out and "label distribution" in out and "│ sentence " in out


@pytest.mark.parametrize("argv, message", [
    (["tasks", "show", "causal_jugment"], "error: unknown task 'causal_jugment' (did you mean: causal_judgment?)"),
    (["tasks", "show", "nowhere/data.csv"], "error: file not found: nowhere/data.csv; check the path"),
])
def test_cli_bad_name_is_one_line(argv, message, capsys, home):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert not home.exists()  # nothing written


def test_cli_bad_column_is_one_line(tmp_path, capsys):
    path = write_csv(tmp_path / "answers.csv")
    assert run(["tasks", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no column 'text' for text_column; the columns are 'sentence', 'label'" in err and err.count("\n") == 1


def test_cli_list_with_toy_tasks_skipping_conversion(capsys, monkeypatch):
    from intertask.tasks import suite

    monkeypatch.setattr(suite, "SUITE_NAMES", ())
    assert run(["tasks", "list", "--json", "--toy"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(TOY_TASKS)
    assert rows[0]["sizes"] == {"train": 64, "validation": 32, "test": 32} and rows[0]["role"] == "toy"


def test_cli_list_shows_names_whole_on_80_columns_without_leading_blank_lines(capsys, monkeypatch):
    from intertask.tasks import suite

    monkeypatch.setattr(suite, "SUITE_NAMES", ())
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["tasks", "list", "--toy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].strip() == "tasks" and all(len(line) <= 80 for line in lines)
    for name in TOY_TASKS:
        assert any(line.startswith(f"│ {name} ") for line in lines), name
    assert "intertask tasks show NAME" in lines[-1]


@pytest.mark.slow
def test_cli_prepare_then_list_json_has_the_real_tasks(capsys, home, monkeypatch):
    from intertask.tasks import suite

    # the suite tasks of the archives PyPI serves; bigbench-1.0.0.tar.gz it no longer does (test_suite.py)
    served = tuple(n for n in SUITE_NAMES if suite.SUITE[n].archive != "bigbench")
    monkeypatch.setattr(suite, "SUITE_NAMES", served)
    assert run(["tasks", "prepare"]) == 0
    assert f"{len(served)} suite tasks ready" in capsys.readouterr().out
    assert run(["tasks", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(served) and not any(r["unavailable"] for r in rows.values())
    sources = [r for r in rows.values() if r["role"] == "source"]
    targets = [r for r in rows.values() if r["role"] == "target"]
    assert len(sources) == 11 and len(targets) == 6
    assert all(r["sizes"]["train"] <= 500 and r["sizes"]["validation"] <= 200 for r in targets)
    assert all(1000 <= r["sizes"]["train"] <= 5000 for r in sources)
    assert rows["clinc"]["n_labels"] == 150 and rows["banking"]["n_labels"] == 77
    assert rows["mr_polarity"]["sizes"] == {"train": 2799, "validation": 400, "test": 800}
    assert rows["spam"]["tags"] == ["topic", "spam"]
    assert all(r["learnability"]["metric"] == r["metrics"][0] for r in rows.values())
    assert run(["tasks", "list"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("│ stackoverflow "))
    assert [cell.strip() for cell in row.split("│")[1:4]] == ["stackoverflow", "source", "5000"]


def _read_all_but_bigbench(specs, progress):
    """Made-up rows for every archive but BIG-bench, whose file the index no longer serves."""
    if specs[0].archive == "bigbench":
        raise IntertaskError("the package index at https://pypi.org/simple/bigbench/ no longer serves "
                             "bigbench-1.0.0.tar.gz")
    return {s.name: {"pool": [(f"{s.name} text {i}", "ab"[i % 2]) for i in range(40)]} for s in specs}


def test_an_archive_that_cannot_be_had_leaves_only_its_tasks_unconverted(capsys, home, monkeypatch):
    from intertask.tasks import suite

    monkeypatch.setattr(suite, "_read_all", _read_all_but_bigbench)
    big = [n for n in SUITE_NAMES if suite.SUITE[n].archive == "bigbench"]
    assert run(["tasks", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert all(rows[n]["sizes"]["train"] is None and "no longer serves" in rows[n]["unavailable"] for n in big)
    assert all(r["sizes"]["train"] == 28 and r["unavailable"] is None for n, r in rows.items() if n not in big)
    assert run(["tasks", "list"]) == 0
    out, err = capsys.readouterr()
    assert f"note: {len(big)} suite tasks are not available ({', '.join(big[:3])}, ...): the package index" in err
    assert "│ clinc " in out and err.count("\n") == 1


def test_prepare_converts_what_it_can_then_names_what_it_could_not(capsys, home, monkeypatch):
    from intertask.tasks import suite

    monkeypatch.setattr(suite, "_read_all", _read_all_but_bigbench)
    assert run(["tasks", "prepare"]) == 2
    out, err = capsys.readouterr()
    big = sum(suite.SUITE[n].archive == "bigbench" for n in SUITE_NAMES)
    assert f"{len(SUITE_NAMES) - big} suite tasks ready" in out
    assert err.startswith(f"error: {big} suite tasks from bigbench were not converted: the package index")
    assert err.count("\n") == 1
    with pytest.raises(IntertaskError, match="no longer serves bigbench-1.0.0.tar.gz"):
        get_task("winowhy")
    assert get_task("clinc").sizes()["train"] == 28
