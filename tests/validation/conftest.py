from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

BIKE_SHARING = Path(__file__).resolve().parents[2] / "examples" / "data" / "bike_sharing_day.csv"


@pytest.fixture(scope="session")
def bike_sharing() -> pd.DataFrame:
    """The UCI bike-sharing daily data (2011-2012), one row per day."""
    return pd.read_csv(BIKE_SHARING)
