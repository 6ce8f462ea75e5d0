"""The bike-sharing project with a search: two candidate model families, each with its own
hyper-parameter space, and a feature step of the project's own.

The best trial on validation rows (the newest 20% of the training rows) wins; it is refitted on
all training rows and judged against production on the holdout no trial saw.

    evergreen run --project examples/bike_search_project.py --data examples/data/landing
    EVERGREEN_EXECUTOR=ray evergreen run --project examples/bike_search_project.py ...
"""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

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
RUSH_HOURS = [7, 8, 17, 18]


def prepare(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[[*FEATURES, "cnt"]]


@eg.step(after="prepare", outputs=["prepared"])
def rush_hour(prepared: pd.DataFrame) -> pd.DataFrame:
    """A feature step: whether the hour is a commuting peak."""
    return prepared.assign(rush=prepared["hr"].isin(RUSH_HOURS).astype("int64"))


project = eg.Project(
    name="bike-demand-search",
    source="data/landing",
    target="cnt",
    task="regression",
    prepare=prepare,
    steps=[rush_hour],
    candidates=[
        eg.Candidate(
            "boosting",
            lambda **p: HistGradientBoostingRegressor(random_state=0, **p),
            space={
                "learning_rate": eg.Float(0.02, 0.3, log=True),
                "max_leaf_nodes": eg.Int(8, 64, log=True),
                "max_iter": eg.Int(50, 300, log=True),
            },
        ),
        eg.Candidate(
            "forest",
            lambda **p: RandomForestRegressor(random_state=0, n_jobs=1, **p),
            space={"n_estimators": eg.Int(20, 120), "max_depth": eg.Int(4, 20)},
        ),
    ],
    search=eg.SearchSpec(trials=6, timeout_seconds=300),
    metric="rmse",
    split=eg.SplitSpec(method="time", holdout=0.2),
    automation=1,
)
