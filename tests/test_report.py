"""Reports render from tiny synthetic tables: every figure present, decodable and not blank."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.recommend.verdict import Evidence, make_verdict
from intertask.evaluation import Predictions, evaluate
from intertask.matrix.transfer import TransferMatrix
from intertask.report import (_snapshot_curve, figures, recommend_figures, write_recommendation_report,
                              write_study_report)
from intertask.report._common import mean_ci, wrap_name
from intertask.report._page import CAPTIONS
from intertask.stats import target_interval

SOURCES = ["clinc", "banking", "hyperbaton", "formal_fallacies_syllogisms_negation"]
TARGETS = ["trec_coarse", "mcid", "causal_judgment"]
TAGS = {"trec_coarse": ("classification",), "mcid": ("classification",), "causal_judgment": ("reasoning",)}
METHODS = ["random", "text_embedding", "max_pairwise"]
STUDY_FIGURES = [
    "gain_heatmap", "transfer_strips", "selector_comparison", "consistency", "snapshot_curve", "reasoning_comparison"
]


@pytest.fixture(scope="module")
def study():
    """A synthetic transfer matrix and what the evaluation code makes of it (cases, summary,
    consistency, snapshot curve): the report is fed what the code produces."""
    rng = np.random.default_rng(0)
    rows = []
    for target in TARGETS:
        for seed in range(3):
            baseline = 60 + 5 * rng.random()
            for source in SOURCES:
                score = baseline + rng.normal(0.5, 2.0)
                gain = score - baseline
                rows.append(dict(target=target, source=source, seed=seed, score=score, baseline=baseline,
                                 gain=gain, relative_gain=gain / baseline * 100))
    matrix = TransferMatrix.from_frame(pd.DataFrame(rows))
    keys = matrix.frame[["target", "seed", "source"]]
    predictions = pd.concat(
        [keys.assign(method=m, predicted=rng.random(len(keys)), target_steps=0.0) for m in METHODS[:2]]
        + [keys.assign(method=f"{METHODS[2]}@{s}", predicted=rng.random(len(keys)), target_steps=float(s))
           for s in (10, 20, 40)],
        ignore_index=True,
    )
    evaluation = evaluate(matrix, Predictions(predictions, tags=TAGS), k=2, n_boot=200)
    return dict(matrix=matrix, cases=evaluation.cases, summary=evaluation.summary,
                consistency=evaluation.consistency, curve=_snapshot_curve(evaluation))


@pytest.fixture()
def recommendation():
    rng = np.random.default_rng(1)
    ranking = pd.DataFrame(dict(source=SOURCES, combined_rank=[1, 2, 3, 4]))
    for method in METHODS:
        ranking[f"score_{method}"] = rng.random(len(SOURCES))
    ranking = ranking.assign(stability=rng.random(4), expected_gain=[1.0, np.nan, -0.5, 0.2],
                             p_negative=[0.1, np.nan, 0.7, 0.4])
    verdict = make_verdict(Evidence(top_source="clinc <first> & co", agreement=0.8, agreement_random=0.5,
                                    stability=0.2, similarity=0.7, reasoning_tag=True, n_seeds=3))
    verify = pd.DataFrame(dict(source=SOURCES[:2], mean_gain=[1.0, -0.4], ci_low=[0.2, -1.2],
                               ci_high=[1.8, 0.4], n_seeds=[3, 3]))
    return dict(ranking=ranking, verdict=verdict, verify=verify)


def _decode(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return imread(io.BytesIO(png), format="png")


def _embedded(page: str) -> dict[str, bytes]:
    """figure id -> its embedded PNG bytes."""
    found = re.findall(r'<figure id="([a-z_]+)">.*?src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    return {name: base64.b64decode(data) for name, data in found}


def _assert_drawn(png: bytes) -> None:
    assert len(png) > 5000
    pixels = _decode(png)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert float(pixels[..., :3].var()) > 1e-3


def test_study_report_embeds_every_figure_and_saves_pngs(tmp_path, study):
    path = write_study_report(tmp_path / "out", study["matrix"], study["cases"], study["summary"], TAGS,
                              consistency=study["consistency"], snapshot_curve=study["curve"], k=3)
    page = path.read_text(encoding="utf-8")
    embedded = _embedded(page)
    assert sorted(embedded) == sorted(STUDY_FIGURES)
    curve = study["curve"]  # only the method evaluated at several target steps has a curve
    assert sorted(curve["method"].unique()) == ["max_pairwise"] and sorted(curve["target_steps"].unique()) == [10, 20, 40]
    for name, png in embedded.items():
        _assert_drawn(png)
        assert (path.parent / f"{name}.png").read_bytes() == png
        assert CAPTIONS[name][:60] in page.replace("&#x27;", "'")
    assert "Regret@3" in page and "text_embedding" in page
    assert not list(path.parent.glob("*.tmp"))


def test_study_report_says_what_is_missing_instead_of_a_figure(tmp_path, study):
    path = write_study_report(tmp_path, study["matrix"], study["cases"], study["summary"], TAGS,
                              snapshot_curve=study["curve"].iloc[0:0])
    page = path.read_text(encoding="utf-8")
    assert sorted(_embedded(page)) == ["gain_heatmap", "reasoning_comparison", "selector_comparison", "transfer_strips"]
    assert "No snapshot curve" in page and "No seed consistency to show" in page
    assert not (tmp_path / "snapshot_curve.png").exists()


def test_study_report_leaves_out_cases_whose_baseline_did_not_learn(tmp_path, study):
    matrix = study["matrix"].frame.assign(baseline_learned=True)
    floored = (matrix["target"] == TARGETS[0]) & (matrix["seed"] == 1)
    matrix.loc[floored, "baseline_learned"] = False
    page = write_study_report(tmp_path, TransferMatrix.from_frame(matrix), study["cases"], study["summary"], TAGS,
                              k=3).read_text(encoding="utf-8")
    n = len(matrix) - int(floored.sum())
    assert f"= {n} transfers" in page
    assert f"Left out of every number and figure: 1 target × seed case(s)" in page and f"{TARGETS[0]}/1" in page


def test_heatmap_annotates_each_cell_and_strips_draw_each_target(study):
    heat = figures.gain_heatmap(study["matrix"], TAGS)
    cells = [t.get_text() for t in heat.axes[0].texts]
    assert len(cells) == len(SOURCES) * len(TARGETS) and all("±" in c for c in cells)
    mean = study["matrix"].frame.groupby(["source", "target"])["relative_gain"].mean()
    assert f"{mean[('clinc', 'mcid')]:+.1f}" in " ".join(cells)
    strips = figures.transfer_strips(study["matrix"], TAGS)
    visible = [ax for ax in strips.axes if ax.get_visible()]
    assert len(visible) == len(TARGETS)
    assert all(len(ax.collections) >= 3 for ax in visible)  # seeds' dots and the means
    assert visible[-1].get_title().startswith("causal_judgment")  # reasoning target last


@pytest.mark.parametrize("suffix", [".html", ".md"])
def test_recommendation_report(tmp_path, recommendation, suffix):
    path = write_recommendation_report(tmp_path / f"rec{suffix}", "causal_judgment", recommendation["ranking"],
                                       recommendation["verdict"], verify=recommendation["verify"])
    text = path.read_text(encoding="utf-8")
    if suffix == ".html":
        embedded = _embedded(text)
        assert sorted(embedded) == ["ranking", "verify"]
        for png in embedded.values():
            _assert_drawn(png)
        assert "Leaning &#x27;clinc &lt;first&gt; &amp; co&#x27;" in text and "<first>" not in text
    else:
        for name in ("ranking", "verify"):
            png = tmp_path / f"rec_{name}.png"
            _assert_drawn(png.read_bytes())
            assert f"(rec_{name}.png)" in text
        assert "Leaning 'clinc \\<first\\> & co'" in text
        assert "formal\\_fallacies\\_syllogisms\\_negation" in text
    assert "the target looks reasoning-like" in text and "cheap signal" in text


def test_recommendation_without_verify_or_history(tmp_path, recommendation):
    ranking = recommendation["ranking"].assign(expected_gain=np.nan, p_negative=np.nan)
    path = write_recommendation_report(tmp_path / "rec.html", "mcid", ranking, recommendation["verdict"])
    text = path.read_text(encoding="utf-8")
    assert sorted(_embedded(text)) == ["ranking"]
    assert "verifying the top K sources" in text and "expected gain" not in text.split("All sources")[1]


@pytest.mark.parametrize("table, column", [
    ("cases", "regret_at_k"), ("summary", "ci_high"), ("consistency", "spearman"),
])
def test_study_report_missing_column_names_it_and_writes_nothing(tmp_path, study, table, column):
    study = dict(study)
    study[table] = study[table].drop(columns=column)
    out = tmp_path / "out"
    with pytest.raises(IntertaskError, match=f"is missing column\\(s\\) '{column}'"):
        write_study_report(out, study["matrix"], study["cases"], study["summary"], TAGS,
                           consistency=study["consistency"])
    assert not out.exists()


def test_report_folder_blocked_by_a_file_is_one_error(tmp_path, study, recommendation):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IntertaskError, match="out_dir '.*file': .*file is a file, not a folder"):
        write_study_report(blocker, study["matrix"], study["cases"], study["summary"], TAGS,
                           consistency=study["consistency"])
    with pytest.raises(IntertaskError, match="report '.*rec.html': .*file is a file, not a folder"):
        write_recommendation_report(blocker / "rec.html", "t", recommendation["ranking"], recommendation["verdict"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_summary_without_regret_rows_is_refused(study):
    summary = study["summary"][study["summary"]["metric"] != "regret_at_k"]
    with pytest.raises(IntertaskError, match="no rows for metric 'regret_at_k'"):
        figures.selector_comparison(summary)


def test_bad_recommendation_inputs_write_nothing(tmp_path, recommendation):
    ranking = recommendation["ranking"]
    with pytest.raises(IntertaskError, match="missing column\\(s\\) 'stability'"):
        write_recommendation_report(tmp_path / "a.html", "t", ranking.drop(columns="stability"), recommendation["verdict"])
    with pytest.raises(IntertaskError, match="no 'score_<method>' column"):
        recommend_figures.ranking_figure(ranking[["source", "combined_rank", "stability", "expected_gain", "p_negative"]])
    with pytest.raises(IntertaskError, match="missing column\\(s\\) 'ci_low'"):
        write_recommendation_report(tmp_path / "b.md", "t", ranking, recommendation["verdict"],
                                    verify=recommendation["verify"].drop(columns="ci_low"))
    with pytest.raises(IntertaskError, match="must end in .html or .md"):
        write_recommendation_report(tmp_path / "c.pdf", "t", ranking, recommendation["verdict"])
    with pytest.raises(IntertaskError, match="verdict must be a Verdict \\(from make_verdict\\), got dict"):
        write_recommendation_report(tmp_path / "d.html", "t", ranking, {"headline": "x"})
    assert list(tmp_path.iterdir()) == []


def test_helpers():
    assert wrap_name("formal_fallacies_syllogisms_negation", 14) == "formal_\nfallacies_\nsyllogisms_\nnegation"
    assert wrap_name("mcid") == "mcid"
    mean, low, high = mean_ci([1.0, 2.0, 3.0, 4.0, np.nan], ["a", "b", "c", "d", "e"])
    assert mean == 2.5 and (low, high) == target_interval([1.0, 2.0, 3.0, 4.0], ["a", "b", "c", "d"])
    assert all(np.isnan(mean_ci([np.nan], ["a"])))


def test_report_command(tmp_path, capsys):
    assert run(["report", "--help"]) == 0
    assert "--store" in capsys.readouterr().out
    assert run(["report", "--store", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "no study store at" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
