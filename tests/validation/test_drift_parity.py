"""Per-column drift decisions equal Evidently's DataDriftPreset on the same data.

Both sides get the same column types (Evidently through an explicit ``DataDefinition``) and
choose their tests automatically; ``detect_drift`` without a spec applies no correction and no
effect floor, as Evidently does. The test compares the chosen test and the drifted decision of
every column.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evergreen.validation.drift import detect_drift
from evergreen.validation.kinds import column_kind

_EVIDENTLY_TESTS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chi2",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}


def _evidently_decisions(
    reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, tuple[str, bool]]:
    """``{column: (test, drifted)}`` from Evidently's DataDriftPreset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report  # type: ignore[import-untyped]
        from evidently.presets import DataDriftPreset  # type: ignore[import-untyped]

        kinds = {name: column_kind(reference[name]) for name in reference.columns}
        definition = DataDefinition(
            numerical_columns=[n for n, k in kinds.items() if k == "numeric"],
            categorical_columns=[n for n, k in kinds.items() if k != "numeric"],
        )
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        result: dict[str, Any] = snapshot.dict()
    decisions = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        by_p_value = "p_value" in config["method"]
        drifted = value < threshold if by_p_value else value >= threshold
        decisions[config["column"]] = (_EVIDENTLY_TESTS[config["method"]], drifted)
    return decisions


def _ours(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, tuple[str, bool]]:
    report = detect_drift(reference, current)
    return {c.column: (c.test, c.drifted) for c in report.columns}


def _synthetic(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric, few-valued, categorical and binary columns; half of them shifted."""
    rng = np.random.default_rng(seed)
    letters = np.array(["a", "b", "c", "d", "e"])

    def frame(shifted: bool) -> pd.DataFrame:
        s = 1.0 if shifted else 0.0
        return pd.DataFrame(
            {
                "normal": rng.normal(size=n),
                "normal_shifted": rng.normal(0.4 * s, size=n),
                "lognormal": rng.lognormal(0.0, 0.7, size=n),
                "lognormal_scaled": rng.lognormal(0.0, 0.7 + 0.4 * s, size=n),
                "levels": rng.integers(0, 4, size=n),
                "letters": rng.choice(letters, n, p=[0.3, 0.3, 0.2, 0.1, 0.1]),
                "letters_shifted": rng.choice(
                    letters,
                    n,
                    p=[0.1, 0.1, 0.2, 0.3, 0.3] if shifted else [0.3, 0.3, 0.2, 0.1, 0.1],
                ),
                "flag": rng.random(n) < 0.3,
                "flag_shifted": rng.random(n) < 0.3 + 0.2 * s,
                "label": rng.choice(np.array(["yes", "no"]), n),
            }
        )

    return frame(False), frame(True)


@pytest.mark.parametrize(
    ("seed", "n"),
    [(0, 500), (1, 500), (2, 500), (3, 5_000), (4, 5_000)],
    ids=["500-a", "500-b", "500-c", "5000-a", "5000-b"],
)
def test_synthetic_decisions_equal_evidentlys(seed: int, n: int) -> None:
    reference, current = _synthetic(seed, n)
    ours = _ours(reference, current)
    assert ours == _evidently_decisions(reference, current)
    assert ours["normal_shifted"][1]
    assert ours["letters_shifted"][1]


@pytest.mark.parametrize(
    "halves",
    ["2011-vs-2012", "2011-random-halves"],
    ids=["2011-vs-2012", "2011-random-halves"],
)
def test_bike_sharing_decisions_equal_evidentlys(bike_sharing: pd.DataFrame, halves: str) -> None:
    features = bike_sharing.drop(columns=["instant", "dteday"])
    if halves == "2011-vs-2012":
        reference, current = features[features["yr"] == 0], features[features["yr"] == 1]
    else:
        y2011 = features[features["yr"] == 0].sample(frac=1.0, random_state=3)
        reference, current = y2011.iloc[:182], y2011.iloc[182:]
    reference, current = reference.drop(columns="yr"), current.drop(columns="yr")
    ours = _ours(reference, current)
    assert ours == _evidently_decisions(reference, current)
