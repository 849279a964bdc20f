"""HTML building blocks shared by the reports: captions, page style, escaped tables, atomic writes."""

from __future__ import annotations

import base64
import contextlib
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.stats import TARGET_INTERVAL_RULE
from intertask.formatting import fmt_number
from intertask.paths import atomic_output, check_output_file, new_folders
from intertask.report._common import figure_png

CAPTIONS = {
    "gain_heatmap": (
        "What training on the source first (row) did to the target (column), relative to training the "
        "target alone: mean relative gain in % over seeds, the standard deviation across seeds below it. "
        "Blue helps, red hurts, white is no change. A cell whose ± is as large as its mean is within seed "
        "noise. Sources are sorted by average gain; reasoning targets sit right of the black line."
    ),
    "transfer_strips": (
        "One panel per target, one row per source. Coloured dots are the target's test score after "
        "transfer for each seed, the black tick their mean. The dashed line is the no-transfer baseline "
        "(mean over seeds), the grey band its range across seeds. Dots inside the grey band did not "
        "measurably help; the spread of a row's dots is how much the seed alone moves the result."
    ),
    "selector_comparison": (
        "Each dot is a selection method's mean over all target × seed cases with its 95% confidence "
        f"interval {TARGET_INTERVAL_RULE} (the seeds of a target are not independent). NDCG (higher is better) rewards putting the best sources first; Regret@k "
        "(lower is better) is the score, in % of the best source's, lost by picking among the method's "
        "top k instead of the true best. A method whose interval overlaps the dashed random line is not "
        "distinguishable from guessing on this study."
    ),
    "consistency": (
        "For each target, the Spearman correlation between the source rankings measured with two "
        "different seeds (diamond: mean over seed pairs; dots, when shown: single pairs). 1 means the "
        "seeds agree on which source is "
        "best; near 0 means the measured ranking is mostly seed noise, which caps how good any selector "
        "can look. Reasoning targets are red, below the line."
    ),
    "snapshot_curve": (
        "Quality of the prompt-based methods versus how many steps the target prompt was trained before "
        "comparing it with the source prompts; bands are 95% confidence intervals. A flat line means a "
        "shorter, cheaper target run is enough."
    ),
    "reasoning_comparison": (
        "The selector metrics split by target type, reasoning targets (red) against the rest (blue), "
        f"mean and 95% CI {TARGET_INTERVAL_RULE}. The paper "
        "reports prompt-based methods to be unreliable on reasoning targets; intervals that do not overlap "
        "show whether this study agrees."
    ),
    "ranking": (
        "Sources in the combined order (1 = try first). Left: each selection method's own rank of the "
        "source (1 = its top pick, darker is better); a dark row means the methods agree. Middle: "
        "stability, how steadily the source stays near the top across target seeds (1 = always). Right, "
        "when the library holds past transfer results: the expected gain in accuracy points, labelled with "
        "the chance that transfer hurts."
    ),
    "verify": (
        "Real prompt transfers for the top sources: the measured gain over training the target alone "
        "(dashed 0 line), mean over seeds with a 95% CI. Green: the whole interval is above 0, a reliable "
        "gain; grey: it includes 0, not distinguishable from no transfer; red: reliably worse."
    ),
}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1500px;margin:2em auto;
padding:0 1.5em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
figure{margin:1.2em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{max-width:70em;color:#444;font-size:.95em;margin-top:.4em}
table{border-collapse:collapse;font-size:.92em;margin:.8em 0}
th,td{border:1px solid #ccc;padding:.3em .6em} td{white-space:nowrap}
th{background:#f3f3f3;text-align:left} .scroll{overflow-x:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{background:#f6f6f6;border-left:4px solid #999;padding:.5em 1em}
.headline{font-size:1.25em;background:#eef5ff;border-left:5px solid #2c6fbb;padding:.6em 1em}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.5em 1em}
.pass{color:#1e7b3a;font-weight:bold} .fail{color:#b3261e;font-weight:bold}
"""


@dataclass
class Rendered:
    """A rendered figure: file stem, title, caption, PNG bytes."""

    name: str
    title: str
    caption: str
    png: bytes


def render(name: str, title: str, build, *args, **kwargs) -> Rendered:
    """Build a figure with `build(*args, **kwargs)` and keep it as PNG bytes with its caption."""
    return Rendered(name, title, CAPTIONS[name], figure_png(build(*args, **kwargs)))


def write_files(files: dict[Path, bytes], what: str) -> None:
    """Write each `path: data` atomically (see `paths.atomic_output`; `what` names the parameter in
    errors). When one write fails, the files written before it and the folders made for them are
    removed, so a failed report leaves nothing behind."""
    for path in files:  # every path is checked before anything is written
        check_output_file(path, what)
    written = []
    folders = {Path(path).parent for path in files}
    with contextlib.ExitStack() as stack:
        for folder in sorted(folders):
            stack.enter_context(new_folders(folder, what))
        try:
            for path, data in files.items():
                with atomic_output(path, what) as tmp:
                    tmp.write_bytes(data)
                written.append(Path(path))
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise


def html_table(df: pd.DataFrame) -> str:
    """An HTML table of `df`, every cell escaped (a newline becomes a line break), numbers right-aligned."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="num">{html.escape(fmt_number(v))}</td>'
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            else f"<td>{html.escape(fmt_number(v)).replace(chr(10), '<br>')}</td>"
            for v in row
        )
        rows.append(f"<tr>{cells}</tr>")
    body = "".join(rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def figure_html(fig: Rendered) -> str:
    """A <figure> with its title, the PNG inline as base64, and its caption."""
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="{fig.name}"><h3>{html.escape(fig.title)}</h3>'
        f'<img alt="{html.escape(fig.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
    )


def page(title: str, body: str) -> bytes:
    """A complete UTF-8 HTML page around `body`."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    ).encode("utf-8")


def write_page(out_dir, title: str, body: list[str], rendered: list[Rendered]) -> Path:
    """Create the folder `out_dir`, write each figure as `<name>.png` and then the page
    `report.html` around `body`; return the page's path."""
    path = Path(out_dir) / "report.html"
    with new_folders(Path(out_dir), "out_dir") as out_dir:
        files = {out_dir / f"{fig.name}.png": fig.png for fig in rendered}
        write_files({**files, path: page(title, "\n".join(body))}, "out_dir")
    return path
