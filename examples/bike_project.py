"""Bike-sharing demand: predict the hourly rental count of Capital Bikeshare (Washington D.C.).

The data (UCI Bike Sharing, Fanaee-T & Gama 2013; see data/SOURCES.md) grows by about 64% from
2011 to 2012 and follows the seasons, so a model trained once goes stale. This project retrains
when live inputs drift away from the training data of the serving version.

    evergreen run --project examples/bike_project.py --data examples/data/bike_sharing_hour.csv
"""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

import evergreen as eg

FEATURES = [
    "season",
    "mnth",
    "hr",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "atemp",
    "hum",
    "windspeed",
]
RECENT_DAYS = 120  # train on the latest four months: demand grows, old counts mislead


def prepare(raw: pd.DataFrame) -> pd.DataFrame:
    """Keep the recent rows and the features known at prediction time (no casual/registered:
    they sum to the target)."""
    days = pd.to_datetime(raw["dteday"])
    recent = raw[days > days.max() - pd.Timedelta(days=RECENT_DAYS)]
    return recent[[*FEATURES, "cnt"]]


project = eg.Project(
    name="bike-demand",
    source="data/landing",
    target="cnt",
    task="regression",
    prepare=prepare,
    model=lambda: HistGradientBoostingRegressor(max_iter=150, random_state=0),
    metric="rmse",
    split=eg.SplitSpec(method="time", holdout=0.2),  # rows arrive in time order
    gate=eg.GateSpec(min_improvement=0.0),
    drift=eg.DriftPolicy(p_threshold=0.001, share_threshold=0.5, min_rows=672, window_rows=672),
    triggers=eg.Triggers(drift=True, new_data=False),
    automation=1,
)
