"""How good is `recommend` on targets it never saw: the tables of docs/findings.md §1h.

    python benchmarks/recommend_quality.py [--library DIR] [--runs-file FILE]

Step 1 (expensive, minutes of CPU per historical target, done once): `recommend`'s own short
target runs and selector scores on every historical target of the library, each against the
library's other sources (`evaluation.library_cases.collect_target_runs`), kept in `--runs-file`
(default benchmarks/results/library_target_runs.json); a later call reuses it.

Step 2 (seconds): from those runs and the library's history, printed as Markdown —
"""

from __future__ import annotations

import argparse
from pathlib import Path

from intertask.evaluation.library_cases import collect_target_runs, load_target_runs, save_target_runs
from intertask.evaluation.recommender import library_setup

DEFAULT_RUNS_FILE = Path(__file__).parent / "results" / "library_target_runs.json"


def target_runs(library_dir, runs_file: Path, device: str = "cpu"):
    """`(library, history, tasks, collected)`; the short runs from `runs_file` when it exists."""
    library, history, tasks, methods, budget = library_setup(library_dir)
    if runs_file.is_file():
        collected, _ = load_target_runs(runs_file)
    else:
        from intertask.backbones import load_backbone
        from intertask.progress import progress_bar

        backbone = load_backbone(library.backbone["name"], device=device)
        with progress_bar(True) as bar:
            collected = collect_target_runs(library, tasks, methods, budget, 3, backbone, device, bar)
        save_target_runs(runs_file, collected, library.path)
    return library, history, tasks, collected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", default=None, help="library directory (default: the shipped one)")
    parser.add_argument("--runs-file", type=Path, default=DEFAULT_RUNS_FILE)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    target_runs(args.library, args.runs_file, args.device)


if __name__ == "__main__":
    main()
