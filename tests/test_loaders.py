"""Each loader on real files the tests write, and each bad input with its message pinned."""

import csv
import json

import pytest

from intertask.errors import IntertaskError
from intertask.tasks.loaders import load_file, load_hf, stratified_split
from intertask.tasks.task import TaskKind

WORDS = {"pos": "good great fine lovely", "neg": "bad awful poor sad", "mixed": "so so"}


def rows(n=60, labels=("neg", "pos")):
    return [{"text": f"{WORDS[labels[i % len(labels)]]} item {i}", "label": labels[i % len(labels)]} for i in range(n)]


def write_csv(path, records, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(records)
    return path


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_csv_single_file_split_deterministic_and_stratified(tmp_path):
    path = write_csv(tmp_path / "reviews.csv", rows(100))
    task = load_file(path)
    assert task.name == "reviews" and task.kind is TaskKind.CLASSIFICATION
    assert task.labels == ("neg", "pos")
    assert task.sizes() == {"train": 70, "validation": 10, "test": 20}
    assert sum(ex.label for ex in task.test) == 10  # stratified: half of each label
    again = load_file(path)
    assert [ex.text for ex in again.test] == [ex.text for ex in task.test]
    other = load_file(path, seed=1)
    assert [ex.text for ex in other.test] != [ex.text for ex in task.test]
    texts = [ex.text for s in ("train", "validation", "test") for ex in task.split(s)]
    assert len(set(texts)) == 100  # a partition


def test_tsv_with_column_mapping_and_pairs(tmp_path):
    records = [{"premise": f"p{i}", "hypothesis": f"h{i}", "gold": ["yes", "no", "maybe"][i % 3]} for i in range(60)]
    task = load_file(write_csv(tmp_path / "nli.tsv", records, "\t"), text_column="premise",
                     text_pair_column="hypothesis", label_column="gold", tags=["nli"])
    assert task.labels == ("maybe", "no", "yes")
    assert task.tags == ("nli",)
    ex = task.train[0]
    assert ex.text.startswith("p") and ex.text_pair == "h" + ex.text[1:]


def test_jsonl_numeric_classes_and_regression(tmp_path):
    ints = [{"text": f"t{i}", "label": i % 3} for i in range(60)]
    task = load_file(write_jsonl(tmp_path / "ints.jsonl", ints))
    assert task.kind is TaskKind.CLASSIFICATION and task.labels == ("0", "1", "2")
    floats = [{"text": f"t{i}", "label": i / 7} for i in range(60)]
    reg = load_file(write_jsonl(tmp_path / "scores.jsonl", floats))
    assert reg.kind is TaskKind.REGRESSION and reg.metrics == ("pearson", "spearman")
    assert isinstance(reg.train[0].label, float)


def test_jsonl_multiple_choice(tmp_path):
    records = [{"question": f"q{i}", "options": ["red", "blue", "green"], "answer": ["red", "blue", "green"][i % 3]}
               for i in range(30)]
    task = load_file(write_jsonl(tmp_path / "mc.jsonl", records), text_column="question",
                     label_column="answer", choices_column="options")
    assert task.kind is TaskKind.MULTIPLE_CHOICE
    assert all(ex.choices[ex.label] == ["red", "blue", "green"][int(ex.text[1:]) % 3] for ex in task.train)


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows(50))
    pq.write_table(table, tmp_path / "data.parquet")
    task = load_file(tmp_path / "data.parquet")
    assert sum(task.sizes().values()) == 50 and task.labels == ("neg", "pos")


def test_split_directory_with_dev_and_missing_validation(tmp_path):
    folder = tmp_path / "given"
    folder.mkdir()
    write_csv(folder / "train.csv", rows(40))
    write_csv(folder / "dev.csv", rows(6))
    write_csv(folder / "test.csv", rows(8))
    task = load_file(folder)
    assert task.name == "given" and task.sizes() == {"train": 40, "validation": 6, "test": 8}

    no_dev = tmp_path / "nodev"
    no_dev.mkdir()
    write_csv(no_dev / "train.csv", rows(40))
    write_csv(no_dev / "test.csv", rows(8))
    task = load_file(no_dev)
    assert task.sizes() == {"train": 36, "validation": 4, "test": 8}


def test_dict_of_split_files(tmp_path):
    files = {"train": write_jsonl(tmp_path / "a.jsonl", rows(30)), "test": write_csv(tmp_path / "b.csv", rows(10))}
    task = load_file(files, name="mixed")
    assert task.name == "mixed" and task.sizes()["test"] == 10 and task.sizes()["validation"] == 4  # round(0.1 * 15) = 2 per label


def test_hf_saved_to_disk(tmp_path):
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    data = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(40)], "label": [i % 2 for i in range(40)]},
                                            features=features),
        "test": datasets.Dataset.from_dict({"sentence": [f"t{i}" for i in range(10)], "label": [i % 2 for i in range(10)]},
                                           features=features),
    })
    data.save_to_disk(str(tmp_path / "saved"))
    task = load_hf(str(tmp_path / "saved"), text_column="sentence")
    assert task.labels == ("negative", "positive")
    assert task.sizes() == {"train": 36, "validation": 4, "test": 10}
    assert task.source.startswith("hf:")
    with pytest.raises(IntertaskError, match=r"no column 'text' for text_column; the columns are 'sentence', 'label'"):
        load_hf(str(tmp_path / "saved"))
    unlabelled = datasets.DatasetDict({"train": data["train"], "test": datasets.Dataset.from_dict(
        {"sentence": ["u"], "label": [-1]}, features=datasets.Features(
            {"sentence": datasets.Value("string"), "label": datasets.Value("int64")}))})
    unlabelled.save_to_disk(str(tmp_path / "unlabelled"))
    with pytest.raises(IntertaskError, match=r"test row 1: label -1 is not one of the 2 classes \(an unlabelled split"):
        load_hf(str(tmp_path / "unlabelled"), text_column="sentence")
    with pytest.raises(IntertaskError, match="has no split 'dev'; it has train, test"):
        load_hf(str(tmp_path / "saved"), text_column="sentence", splits={"train": "train", "validation": "dev"})


def test_stratified_split_keeps_every_label_in_train():
    items = list(range(10))
    keys = [0] * 9 + [1]
    test, train = stratified_split(items, keys, [0.5], seed=0)
    assert 9 in train and len(test) == 4 + 0  # round(0.5*9)=4 of label 0, none of the singleton


# --- bad input: one line, IntertaskError, nothing written -------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(IntertaskError, match=r"file not found: .*nope\.csv; check the path"):
        load_file(tmp_path / "nope.csv")


def test_empty_splits_is_no_input():
    with pytest.raises(IntertaskError, match=r"give a file, a folder of split files, or splits=\{'train'"):
        load_file(splits={})


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("data.xlsx", b"x", r"unsupported file type '\.xlsx'.*use one of \.csv, \.tsv"),
        ("bad.csv", b"text,label\nfine,pos\nalso fine,neg\ntoo,many,fields\n",
         r"bad\.csv line 4: 3 fields, the header has 2"),
        ("quote.csv", b'text,label\n"ok",pos\n"broken "quote,neg\n', r"quote\.csv line 3: malformed CSV"),
        ("latin.csv", "text,label\ncaf\xe9,pos\n".encode("latin-1"), r"cannot read .*latin\.csv as UTF-8"),
        ("bad.jsonl", b'{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", "label": \n',
         r"bad\.jsonl line 3: malformed JSON"),
        ("gap.csv", b"text,label\na,pos\nb,\nc,neg\n", r"train row 2 has no value in 'label'; fix or drop the row"),
    ],
)
def test_bad_file_is_refused_with_its_problem_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IntertaskError, match=message):
        load_file(path)


def test_missing_column_lists_columns(tmp_path):
    path = write_csv(tmp_path / "cols.csv", [{"sentence": "a", "label": "x"}, {"sentence": "b", "label": "y"}])
    with pytest.raises(IntertaskError, match=r"no column 'text' for text_column; the columns are 'sentence', 'label'"):
        load_file(path)
    with pytest.raises(IntertaskError, match=r"no column 'gold' for label_column"):
        load_file(path, text_column="sentence", label_column="gold")


def test_empty_split(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    write_csv(folder / "train.csv", rows(20))
    (folder / "test.csv").write_text("text,label\n")
    with pytest.raises(IntertaskError, match="the test split is empty"):
        load_file(folder)


def test_single_label(tmp_path):
    path = write_csv(tmp_path / "one.csv", rows(20, labels=("pos",)))
    with pytest.raises(IntertaskError, match=r"the train split has a single label \('pos'\); a classifier needs at least two"):
        load_file(path)


def test_label_in_test_never_in_train(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    write_csv(folder / "train.csv", rows(20))
    write_csv(folder / "test.csv", rows(6, labels=("neg", "pos", "mixed")))
    with pytest.raises(IntertaskError, match=r"label\(s\) 'mixed' appear in test but never in train"):
        load_file(folder)


def test_folder_without_train(tmp_path):
    write_csv(tmp_path / "test.csv", rows(10))
    with pytest.raises(IntertaskError, match="has no train file; name the files train.csv"):
        load_file(tmp_path)


def test_bad_input_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERTASK_HOME", str(tmp_path / "home"))
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(IntertaskError, match="line 1"):
        load_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
