"""Transfer matrices from long tables, selector scores from files, and the restricted unpickler."""

import math
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from intertask.errors import IntertaskError
from intertask.cli.options import read_named
from intertask.matrix.predictions import read_predictions
from intertask.matrix.safe_pickle import load_plain
from intertask.matrix.table import COLUMNS, from_long_table
from intertask.matrix.transfer import TransferMatrix


def read_matrix(path):
    return TransferMatrix.read(path).frame


def write_matrix(frame, path):
    return TransferMatrix.from_frame(frame).write(path)


def _long(with_baseline=True):
    rows = []
    for target, base in (("t1", 50.0), ("t2", 80.0)):
        for seed in (0, 1):
            for i, source in enumerate(("a", "b", "c")):
                row = {"target": target, "source": source, "seed": seed, "score": base + i - 1 + seed}
                if with_baseline:
                    row["baseline"] = base + 0.5
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_long_table_round_trip_and_cell_summaries(tmp_path, suffix):
    path = tmp_path / f"in{suffix}"
    write_matrix(_long(), path)
    matrix = read_matrix(path)
    assert list(matrix.columns) == list(COLUMNS) and set(matrix["setting"]) == {"default"}
    cell = matrix[(matrix.target == "t1") & (matrix.source == "b")]
    # scores 50 and 51 against baseline 50.5: one seed below, one above
    assert cell["gain"].tolist() == [-0.5, 0.5]
    assert cell["positive_share"].tolist() == [0.5, 0.5]
    assert cell["mean_relative_gain"].iloc[0] == pytest.approx(0.0)
    again = tmp_path / f"again{suffix}"
    write_matrix(matrix, again)
    pd.testing.assert_frame_equal(read_matrix(again), matrix)


def test_no_baseline_keeps_published_cell_summaries_and_reports_holes(tmp_path):
    table = _long(with_baseline=False).assign(setting="s", mean_relative_gain=2.0, positive_share=0.75)
    table.loc[0, "score"] = np.nan  # a failed run: dropped and reported, never filled
    table = table.drop(index=[5])
    path = tmp_path / "m.csv"
    table.to_csv(path, index=False)
    matrix = read_matrix(path)
    assert matrix["baseline"].isna().all() and matrix["gain"].isna().all()
    assert (matrix["positive_share"] == 0.75).all() and (matrix["mean_relative_gain"] == 2.0).all()
    holes = TransferMatrix.read(path).holes()
    assert sorted(map(tuple, holes[["target", "source", "seed"]].to_numpy().tolist())) == [("t1", "a", 0), ("t1", "c", 1)]


def test_long_table_mistakes_are_one_line_errors(tmp_path):
    def check(frame, match, name="bad.csv"):
        path = tmp_path / name
        frame.to_csv(path, index=False)
        with pytest.raises(IntertaskError, match=match):
            read_matrix(path)

    check(_long().drop(columns="seed"), r"lacks column\(s\) \['seed'\]")
    check(pd.concat([_long(), _long().iloc[[0]]]), "more than one row for setting 'default', target 't1', source 'a', seed 0")
    check(_long().assign(seed=0.5), "column 'seed' must hold integers")
    check(_long().assign(score="high"), "column 'score' must hold numbers; got 'high'")
    shifted = _long()
    shifted.loc[0, "baseline"] = 1.0
    check(shifted, "baseline differs between the rows of setting 'default', target 't1', seed 0")
    check(_long().assign(positive_share=2.0), r"positive_share' must lie in \[0, 1\]")
    with pytest.raises(IntertaskError, match="must end in .parquet, .csv, .json, .jsonl"):
        read_matrix(tmp_path / "m.xlsx")
    with pytest.raises(IntertaskError, match="no file"):
        read_matrix(tmp_path / "absent.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(IntertaskError, match="cannot read .*broken.parquet"):
        read_matrix(tmp_path / "broken.parquet")
    with pytest.raises(IntertaskError, match="does not exist"):
        write_matrix(_long(), tmp_path / "nowhere" / "m.csv")


def test_select_one_setting_and_targets():
    matrix = TransferMatrix.from_frame(pd.concat([_long().assign(setting="t5l"), _long().assign(setting="t5s")]))
    with pytest.raises(IntertaskError, match=r"setting is needed: the matrix has 2 settings \(t5l, t5s\); choose one"):
        matrix.select()
    with pytest.raises(IntertaskError, match="setting 't5' is not in the matrix .*did you mean"):
        matrix.select("t5")
    with pytest.raises(IntertaskError, match="targets name 't3', which setting 't5l' does not have"):
        matrix.select("t5l", ["t3"])
    assert matrix.select("t5s", ["t2"]).targets == ["t2"]
    with pytest.raises(IntertaskError, match="targets are empty") as raised:
        matrix.select("t5l", [])
    assert raised.value.parameter == "targets"
    assert matrix.select("t5l", seeds=[1]).frame["seed"].unique().tolist() == [1]
    with pytest.raises(IntertaskError, match=r"seeds name 7, which setting 't5l' does not have; it has \[0, 1\]"):
        matrix.select("t5l", seeds=[7])


def test_predictions_from_pickles_and_tables(tmp_path):
    nested = tmp_path / "roe.p"
    nested.write_bytes(pickle.dumps({"t1": {"a": np.float64(0.3), "b": 0.1}, "t2": {"a": 1, "b": 2}}))
    frame = read_predictions(nested)
    assert frame.to_dict("list") == {"target": ["t1", "t1", "t2", "t2"], "source": ["a", "b", "a", "b"],
                                     "predicted": [0.3, 0.1, 1.0, 2.0]}
    pairs = tmp_path / "llm.pkl"  # {(source, target): (score, details)}, as TaskWeb's LLM-similarity file
    pairs.write_bytes(pickle.dumps({("a", "b"): (1.0, (0.5, 0.5)), ("b", "a"): (3.0, (0, 0)), ("c", "b"): (5.0,)}))
    one_way = read_predictions(pairs).set_index(["target", "source"])["predicted"]
    assert one_way[("b", "a")] == 1.0 and one_way[("a", "b")] == 3.0
    both = read_predictions(pairs, symmetric=True).set_index(["target", "source"])["predicted"]
    assert both[("b", "a")] == 2.0 and both[("a", "b")] == 2.0 and both[("b", "c")] == 5.0
    table = tmp_path / "size.csv"
    pd.DataFrame({"target": ["t1"], "source": ["a"], "score": [7]}).to_csv(table, index=False)
    assert read_named([f"size={table}", f"llm={pairs}"], symmetric=["llm"])["size"]["predicted"].tolist() == [7.0]

    with pytest.raises(IntertaskError, match="must be NAME=FILE"):
        read_named([str(table)])
    with pytest.raises(IntertaskError, match="--symmetric 'roe' is not a --predictions name"):
        read_named([f"size={table}"], symmetric=["roe"])
    bad = tmp_path / "bad.p"
    bad.write_bytes(pickle.dumps({"t1": {"a": "high"}}))
    with pytest.raises(IntertaskError, match="score of .* must be a finite number, got 'high'"):
        read_predictions(bad)
    bad.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(IntertaskError, match="must hold a non-empty dict of scores, got list"):
        read_predictions(bad)
    with pytest.raises(IntertaskError, match="must end in"):
        read_predictions(tmp_path / "scores.txt")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_reads_arrays_and_refuses_code(tmp_path):
    plain = tmp_path / "plain.p"
    for protocol in (2, 4, 5):
        plain.write_bytes(pickle.dumps({"x": np.arange(3.0), "y": np.float32(2), "s": {1}}, protocol=protocol))
        loaded = load_plain(plain)
        assert loaded["x"].tolist() == [0.0, 1.0, 2.0] and loaded["y"] == 2 and loaded["s"] == {1}
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.p"
    evil.write_bytes(pickle.dumps({"t1": {"a": _RunsCode(marker)}}))
    with pytest.raises(IntertaskError, match=r"refusing to unpickle .*evil.p': it calls (posix|os)\.system"):
        load_plain(evil)
    assert not marker.exists()
    evil.write_bytes(pickle.dumps({"t1": {"a": 1.0}})[:-5])
    with pytest.raises(IntertaskError, match="is not a readable pickle"):
        load_plain(evil)
    assert math.isfinite(load_plain(plain)["x"].sum())


def test_import_table_command_writes_the_matrix_and_lists_holes(tmp_path, capsys):
    from intertask.cli import run

    source = tmp_path / "mine.csv"
    _long().drop(index=[3]).to_csv(source, index=False)
    out = tmp_path / "m.jsonl"
    assert run(["import", "table", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "default: 11 of 12 target × source × seed cells; missing 1: a→t1 seed 1" in printed
    assert "list them all with --missing FILE.csv" in printed
    assert len(read_matrix(out)) == 11
    assert run(["import", "table", str(source), "--out", str(tmp_path / "m.xlsx")]) == 2
    assert "--out" in capsys.readouterr().err and not (tmp_path / "m.xlsx").exists()
    assert run(["evaluate", "--matrix", str(out), "--methods", "random"]) == 2
    assert "--methods goes with --store or --library, not --matrix" in capsys.readouterr().err


@pytest.mark.parametrize("seed, match", [
    ("inf", "column 'seed' must hold numbers"),
    ("-inf", "column 'seed' must hold numbers"),
    ("1e30", r"column 'seed' must hold integers within ±9007199254740992; got 1e\+30"),
    ("99999999999999999999999", "column 'seed' must hold integers within"),
    ("0.5", "column 'seed' must hold integers"),
])
def test_seeds_that_are_not_integers_in_range_are_refused(tmp_path, seed, match):
    path = tmp_path / "s.csv"
    path.write_text(f"target,source,seed,score\na,b,{seed},1\n")
    with pytest.raises(IntertaskError, match=match):
        read_matrix(path)


def test_a_csv_row_with_more_fields_than_the_header_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("target,source,seed,score\na,b,0,1,5,6\n")
    with pytest.raises(IntertaskError, match="a row has more fields than the header"):
        read_matrix(path)


def test_booleans_and_dates_are_not_scores_or_seeds(tmp_path):
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text('{"target": "a", "source": "b", "seed": 0, "score": true}\n')
    with pytest.raises(IntertaskError, match="column 'score' must hold numbers; got True"):
        read_matrix(jsonl)
    mixed = pd.DataFrame({"target": ["a", "a"], "source": ["b", "c"], "seed": [0, 0], "score": [1.0, False]})
    with pytest.raises(IntertaskError, match="column 'score' must hold numbers; got False"):
        from_long_table(mixed)
    dated = tmp_path / "d.parquet"
    pd.DataFrame({"target": ["a"], "source": ["b"], "seed": pd.to_datetime(["2020-01-01"]),
                  "score": [1.0]}).to_parquet(dated)
    with pytest.raises(IntertaskError, match="column 'seed' must hold numbers"):
        read_matrix(dated)


@pytest.mark.parametrize("suffix", list(".csv .parquet .json .jsonl".split()))
@pytest.mark.parametrize("name", ["", "  "])
def test_empty_names_are_refused_in_every_format(tmp_path, suffix, name):
    frame = _long()
    frame["target"] = frame["target"].astype(object)
    frame.loc[2, "target"] = name
    path = tmp_path / f"e{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False), ".parquet": lambda: frame.to_parquet(path),
     ".json": lambda: frame.to_json(path, orient="records"),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[suffix]()
    with pytest.raises(IntertaskError, match="column 'target' has an empty value"):
        read_matrix(path)


def test_import_checks_missing_before_writing_anything(tmp_path, capsys):
    from intertask.cli import run

    source = tmp_path / "mine.csv"
    _long().to_csv(source, index=False)
    out, fifo = tmp_path / "m.parquet", tmp_path / "holes.csv"
    os.mkfifo(fifo)
    assert run(["import", "table", str(source), "--out", str(out), "--missing", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --missing ") and "is a FIFO" in err and not out.exists()
