"""The scikit-learn flavor: safe skops archives that are byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from evergreen.errors import IntegrityFailure
from evergreen.flavors import get_flavor

FLAVOR = get_flavor("sklearn")
X = np.random.default_rng(0).normal(size=(300, 4))
Y = X[:, 0] * 2 + X[:, 1]


def pipeline() -> object:
    scaler = StandardScaler()  # the same object twice: skops ties them by id
    columns = ColumnTransformer([("a", scaler, [0, 1]), ("b", scaler, [2, 3])])
    return make_pipeline(columns, HistGradientBoostingRegressor(max_iter=30, random_state=0))


@pytest.mark.parametrize(
    "make",
    [pipeline, lambda: RandomForestClassifier(n_estimators=5, random_state=0)],
    ids=["pipeline", "forest"],
)
def test_the_same_model_gives_the_same_bytes_and_loads_back(make: object) -> None:
    target = Y if make is pipeline else Y > 0
    first = make().fit(X, target)  # type: ignore[operator]
    data = FLAVOR.save(first)
    time.sleep(1.1)  # zip timestamps have two-second resolution; ids differ between objects
    again = FLAVOR.save(make().fit(X, target))  # type: ignore[operator]
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(again).hexdigest()
    assert np.array_equal(FLAVOR.load(data).predict(X), first.predict(X))
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == sorted(names) and "schema.json" in names


def test_other_parameters_give_other_bytes() -> None:
    a = FLAVOR.save(make_pipeline(StandardScaler()).fit(X))
    b = FLAVOR.save(make_pipeline(StandardScaler(with_mean=False)).fit(X))
    assert a != b


def test_a_file_holding_untrusted_types_is_refused() -> None:
    import skops.io as sio

    data = sio.dumps({"model": make_pipeline(StandardScaler()).fit(X), "extra": hashlib.sha256})
    with pytest.raises(IntegrityFailure, match="does not trust"):
        FLAVOR.load(data)
