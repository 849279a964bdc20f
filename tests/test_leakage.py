"""Leak check: text fingerprints, copied and partially copied sources found, recommend warns and
marks them, library measure's copy test, and fingerprints added to a library built without them."""

from __future__ import annotations

import csv
import json
import random
import shutil

import numpy as np
import pytest

from intertask.backbones import load_backbone
from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.recommend import load_library
from intertask.recommend.add_source import add_sources, create_library
from intertask.recommend.leakage import (COPY_SHARE, NEAR_BITS, WARN_COUNT, Leak, check_target,
                                         exact_hash, find_leaks, fingerprints, normalise, simhash)
from intertask.recommend.library import FINGERPRINT_FILE
from intertask.recommend.recommend import recommend
from intertask.tasks.toy import toy_task

SOURCES = ["toy_sentiment_food", "toy_topic4"]


def _texts(n: int, seed: int, words: int = 30) -> list[str]:
    """`n` texts of `words` random lower-case words each (a vocabulary of 2,000 words)."""
    vocabulary = random.Random(99)
    vocabulary = ["".join(vocabulary.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(vocabulary.randint(2, 9)))
                  for _ in range(2000)]
    rng = random.Random(seed)
    return [" ".join(rng.choice(vocabulary) for _ in range(words)) for _ in range(n)]


def test_normalised_exact_matches():
    assert normalise("  Hello,  WORLD!\u00a0 ｆｏｏ_bar ") == "hello world foo bar"
    prints = fingerprints(["Hello, world!", "hello world", "", "!!", "other text"])
    assert prints.shape == (2, 2) and prints.dtype == np.uint64 and (np.diff(prints[:, 0].astype(float)) > 0).all()
    assert exact_hash("hello world") in prints[:, 0]
    assert simhash("a" * 40) == simhash("a" * 40) and simhash("a" * 40) != simhash("b" * 40)


def test_copied_partly_copied_edited_and_unrelated_targets():
    source = _texts(400, seed=1)
    sources = {"src": fingerprints(source), "other": fingerprints(_texts(300, seed=2))}
    copy = [t.upper() + "." for t in source]  # normalisation makes these exact matches
    (leak,) = find_leaks(sources, copy)
    assert (leak.source, leak.exact, leak.shared, leak.n_texts) == ("src", 400, 400, 400) and leak.is_copy
    partial = source[:60] + _texts(240, seed=3)  # a fifth copied
    (leak,) = find_leaks(sources, partial)
    assert (leak.exact, leak.shared, leak.n_texts) == (60, 60, 300)
    assert leak.warns and not leak.is_copy and leak.share == pytest.approx(0.2)
    rng = random.Random(0)
    edited = []
    for text in source[:200]:  # one character replaced in each text of ~200 characters
        i = rng.randrange(len(text))
        edited.append(text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1:])
    (leak,) = find_leaks(sources, edited)
    assert leak.exact == 0 and leak.shared >= 0.8 * len(edited)  # found as near duplicates
    assert find_leaks(sources, _texts(300, seed=4)) == []
    distances = [bin(simhash(normalise(a)) ^ simhash(normalise(b))).count("1") for a, b in
                 zip(_texts(300, seed=5), _texts(300, seed=6))]
    assert min(distances) > NEAR_BITS  # different texts are not near duplicates


def test_warning_thresholds():
    assert Leak("s", exact=1, shared=1, n_texts=1000).warns is False
    assert Leak("s", exact=0, shared=WARN_COUNT, n_texts=100_000).warns is True
    assert Leak("s", exact=10, shared=10, n_texts=100).warns is True
    assert Leak("s", exact=50, shared=int(COPY_SHARE * 100), n_texts=100).is_copy


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory, tiny_study_toml):
    root = tmp_path_factory.mktemp("leak")
    protocol = root / "tiny.toml"
    protocol.write_text(tiny_study_toml(sources=SOURCES, targets=["toy_topic2"], source_seeds=(0, 1), steps=4,
                                        snapshot_steps=None))
    out = create_library(root / "lib", study_config=protocol)
    add_sources(out, SOURCES)
    return out


def _write_target(path, task_name: str, share: float, seed: int = 0):
    """A CSV target with `share` of the toy task's train+validation texts and new texts for the rest."""
    task = toy_task(task_name)
    seen = [ex for split in ("train", "validation") for ex in getattr(task, split)]
    copied = random.Random(seed).sample(seen, round(share * len(seen)))
    fresh = [(f"{t} fresh example", copied[i % len(copied)].label if copied else 0)
             for i, t in enumerate(_texts(len(seen) - len(copied), seed=seed + 10, words=6))]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([(ex.text, task.labels[ex.label]) for ex in copied] +
                         [(t, task.labels[label]) for t, label in fresh])
    return path


def test_check_target_finds_copied_and_partly_copied_sources(library_dir, tmp_path):
    from intertask.tasks.registry import get_task

    library = load_library(library_dir)
    copied = check_target(library, get_task(str(_write_target(tmp_path / "copy.csv", "toy_topic4", 1.0))))
    assert [(l.source, l.share, l.is_copy) for l in copied] == [("toy_topic4", 1.0, True)]
    partly = check_target(library, get_task(str(_write_target(tmp_path / "part.csv", "toy_topic4", 0.25))))
    assert [(l.source, l.is_copy, l.warns) for l in partly] == [("toy_topic4", False, True)]
    assert partly[0].share == pytest.approx(0.25, abs=0.02)
    assert check_target(library, toy_task("toy_topic2")) == []


def test_recommend_warns_and_marks_the_leaking_source(library_dir, tmp_path, capsys):
    target = _write_target(tmp_path / "part.csv", "toy_topic4", 0.5)
    rec = recommend(str(target), library_dir=library_dir, progress=False, backbone=load_backbone("tiny-encoder"),
                    budget_steps=4, seeds=2)
    shares = dict(zip(rec.ranking["source"], rec.ranking["leak_share"]))
    assert shares["toy_topic4"] == pytest.approx(0.5, abs=0.02) and shares["toy_sentiment_food"] == 0.0
    (warning,) = [w for w in rec.verdict.warnings if w.startswith("leak")]
    assert "source 'toy_topic4'" in warning
    data = json.loads(json.dumps(rec.to_dict()))
    (leak,) = data["stats"]["leaks"]
    assert leak["source"] == "toy_topic4" and leak["warns"] and leak["copy"] is True  # half is a copy
    report = tmp_path / "rec.md"
    assert run(["recommend", "--library", str(library_dir), "--target", str(target), "--seeds", "2",
                "--budget-steps", "4", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "(leak 50%)" in out and "leak: " in out
    assert "target texts in source (leak)" in report.read_text() and "Warning: leak: " in report.read_text()


def test_fingerprints_added_to_a_library_without_them(library_dir, tmp_path, capsys):
    old = shutil.copytree(library_dir, tmp_path / "old")
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"][FINGERPRINT_FILE]
    (old / "manifest.json").write_text(json.dumps(manifest))
    (old / FINGERPRINT_FILE).unlink()
    library = load_library(old)
    assert all(s.fingerprints is None for s in library.sources) and check_target(library, toy_task("toy_topic4")) == []
    rec = recommend("toy_topic2", library_dir=old, progress=False, methods=["vocab_overlap"], budget_steps=2, seeds=1)
    assert rec.ranking["leak_share"].isna().all() and rec.stats["leak_check"] is False
    assert run(["library", "add-fingerprints", str(old)]) == 0
    assert "MB)" in capsys.readouterr().out
    for a, b in zip(load_library(old).sources, load_library(library_dir).sources):
        np.testing.assert_array_equal(a.fingerprints, b.fingerprints)
    data = bytearray((old / FINGERPRINT_FILE).read_bytes())
    data[-1] ^= 0xFF
    (old / FINGERPRINT_FILE).write_bytes(bytes(data))
    with pytest.raises(IntertaskError, match=f"is corrupted: {FINGERPRINT_FILE} does not match its checksum"):
        load_library(old)


def test_shipped_library_carries_fingerprints():
    from intertask.recommend.library import default_library_dir

    library = load_library(default_library_dir())
    assert all(s.fingerprints is not None and len(s.fingerprints) > 1000 for s in library.sources)


def test_fingerprints_of_the_wrong_kind_are_refused(library_dir, tmp_path):
    from safetensors.numpy import load_file, save_file

    from intertask.paths import sha256_file

    copy = shutil.copytree(library_dir, tmp_path / "copy")
    arrays = load_file(str(copy / FINGERPRINT_FILE))
    arrays["fp/toy_topic4"] = arrays["fp/toy_topic4"].astype(np.float64)
    save_file(arrays, str(copy / FINGERPRINT_FILE))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"][FINGERPRINT_FILE] = sha256_file(copy / FINGERPRINT_FILE)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntertaskError, match="holds 'fp/toy_topic4', which is not an \\[N, 2\\] uint64 array"):
        load_library(copy)


def test_a_copied_target_is_refused_unless_allowed(library_dir, tmp_path):
    from intertask.recommend.leakage import refuse_copied_target
    from intertask.tasks.registry import get_task

    library = load_library(library_dir)
    copy = get_task(str(_write_target(tmp_path / "copy.csv", "toy_sentiment_food", 0.9)))
    with pytest.raises(IntertaskError, match="target 'copy' is a copy of a library source: .* source 'toy_sentiment_food'"):
        refuse_copied_target(library, copy)
    assert [leak.source for leak in refuse_copied_target(library, copy, allow_copy=True)] == ["toy_sentiment_food"]
    part = get_task(str(_write_target(tmp_path / "part.csv", "toy_sentiment_food", 0.2)))
    assert refuse_copied_target(library, part)[0].warns
