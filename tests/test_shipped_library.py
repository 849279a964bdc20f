"""The shipped library's promises: a loadable, checksummed library whose history holds only targets
that learned on every seed, and whose demo target (`make demo`) is not one of them."""

from __future__ import annotations

import re
from pathlib import Path

from intertask.recommend.library import default_library_dir, history_cases, load_library

ROOT = Path(__file__).resolve().parents[1]


def test_history_targets_learned_on_three_seeds_with_every_source():
    library = load_library(default_library_dir())
    cases = history_cases(library)
    assert cases
    for case in cases:
        assert case["seeds"] == [0, 1, 2] and case["learned_seeds"] == 3, case
        assert case["complete_sources"] == len(library.sources), case
        assert case["min_baseline_margin"] >= 5, case


def test_the_demo_target_is_not_a_history_target():
    demo = re.search(r"recommend --target (\S+)", (ROOT / "Makefile").read_text()).group(1)
    assert demo not in set(load_library(default_library_dir()).history["target"])
