"""One formatter writes every number people read; a missing one reads the same everywhere."""

import numpy as np

from intertask.formatting import MISSING, fmt_number
from intertask.recommend.verdict import Evidence, make_verdict


def test_numbers_and_missing_numbers():
    assert [fmt_number(v) for v in (0.12345, 12.345, 3, "clinc")] == ["0.123", "12.35", "3", "clinc"]
    assert fmt_number(np.float32(0.5), "+.1f") == "+0.5" and fmt_number(0.25, ".0%") == "25%"
    assert {fmt_number(v, ".2f") for v in (None, float("nan"), np.float32("nan"), -np.inf)} == {MISSING}


def test_verdict_writes_an_unmeasured_number_as_missing():
    detail = make_verdict(Evidence("src", agreement=None, agreement_random=0.5)).criteria[0].detail
    assert f"overlap {MISSING} vs 0.50" in detail
