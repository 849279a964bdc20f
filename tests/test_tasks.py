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
def test_cli_prepare_then_list_json_has_the_real_tasks(capsys, home):
    assert run(["tasks", "prepare"]) == 0
    assert f"{len(SUITE_NAMES)} suite tasks ready" in capsys.readouterr().out
    assert run(["tasks", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(SUITE_NAMES) and len(rows) >= 45
    sources = [r for r in rows.values() if r["role"] == "source"]
    targets = [r for r in rows.values() if r["role"] == "target"]
    assert len(sources) >= 20 and len(targets) >= 20
    assert all(r["sizes"]["train"] <= 500 and r["sizes"]["validation"] <= 200 for r in targets)
    assert all(1000 <= r["sizes"]["train"] <= 5000 for r in sources)
    assert rows["clinc"]["n_labels"] == 150 and rows["banking"]["n_labels"] == 77
    assert rows["multiemo"]["labels"] == ["ambivalent", "negative", "neutral", "positive"]
    assert rows["mr_polarity"]["sizes"] == {"train": 2799, "validation": 400, "test": 800}
    assert rows["fever"]["tags"] == ["fact"]
    assert all(r["learnability"]["metric"] == r["metrics"][0] for r in rows.values())
    assert run(["tasks", "list"]) == 0
    table = capsys.readouterr().out
    assert "│ formal_fallacies_syllogisms_negation │ source │  5000 │" in table
