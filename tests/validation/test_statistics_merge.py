"""Mergeable statistics: a merge equals the statistics of the concatenation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from benchmarks.capped_stats import run_capped, write_parquet
from hypothesis import given, settings
from hypothesis import strategies as st

from evergreen.errors import InvalidInput, NotFound
from evergreen.validation.chunked import compute_statistics_chunks, compute_statistics_parquet
from evergreen.validation.sketches import kmv, kmv_estimate, quantile_levels, sketch_quantiles
from evergreen.validation.statistics import QUANTILES, compute_statistics

_floats = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
_words = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"]))


def _frame(numbers: list[float | None], words: list[str | None]) -> pd.DataFrame:
    size = min(len(numbers), len(words))
    return pd.DataFrame(
        {"x": pd.Series(numbers[:size], dtype=float), "w": pd.Series(words[:size], dtype=object)}
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_floats, min_size=1, max_size=40),
    st.lists(_words, min_size=1, max_size=40),
    st.lists(_floats, min_size=1, max_size=40),
    st.lists(_words, min_size=1, max_size=40),
)
def test_merge_equals_the_statistics_of_the_concatenation(
    x1: list[float | None], w1: list[str | None], x2: list[float | None], w2: list[str | None]
) -> None:
    a, b = _frame(x1, w1), _frame(x2, w2)
    merged = compute_statistics(a).merge(compute_statistics(b))
    whole = compute_statistics(pd.concat([a, b], ignore_index=True))

    assert merged.rows == whole.rows
    for name in ("x", "w"):
        got, want = merged.columns[name], whole.columns[name]
        assert (got.count, got.nulls, got.min, got.max) == (
            want.count,
            want.nulls,
            want.min,
            want.max,
        )
        assert got.distinct == want.distinct  # exact while under the sketch's capacity
        assert got.top_values == want.top_values
    got, want = merged.columns["x"], whole.columns["x"]
    scale = max([abs(v) for v in x1 + x2 if v is not None] + [1.0])
    if want.mean is None:
        assert got.mean is None
    else:
        assert got.mean == pytest.approx(want.mean, rel=1e-9, abs=1e-12 * scale)
        assert got.std == pytest.approx(want.std, rel=1e-9, abs=1e-7 * scale)
        assert got.quantiles == pytest.approx(want.quantiles, rel=1e-9, abs=1e-9 * scale)
        assert got.histogram is not None and want.histogram is not None
        assert sum(got.histogram.counts) == want.count


def test_merge_of_large_samples_is_within_the_sketch_error() -> None:
    rng = np.random.default_rng(3)
    parts = [
        pd.DataFrame({"x": rng.lognormal(size=20_000), "id": rng.integers(0, 10**9, 20_000)})
        for _ in range(5)
    ]
    merged = compute_statistics_chunks(parts)
    whole = pd.concat(parts, ignore_index=True)
    exact = compute_statistics(whole)
    x = merged.columns["x"]
    assert x.mean == pytest.approx(exact.columns["x"].mean, rel=1e-9)
    assert x.std == pytest.approx(exact.columns["x"].std, rel=1e-9)
    assert x.quantiles is not None
    for key, q in QUANTILES.items():
        # rank error: the share of values below the sketched quantile is close to q
        assert np.mean(whole["x"] <= x.quantiles[key]) == pytest.approx(q, abs=0.02)
    true_distinct = whole["id"].nunique()
    assert merged.columns["id"].distinct == pytest.approx(true_distinct, rel=0.15)
    assert x.histogram is not None and sum(x.histogram.counts) == len(whole)


def test_kmv_is_exact_below_capacity_and_close_above() -> None:
    hashes = np.arange(1, 300, dtype=np.uint64) * np.uint64(2**50)
    assert kmv_estimate(kmv(hashes)) == 299
    rng = np.random.default_rng(0)
    random = rng.integers(0, 2**63, 50_000, dtype=np.uint64) * np.uint64(2)
    assert kmv_estimate(kmv(random)) == pytest.approx(50_000, rel=0.15)


def test_quantile_sketch_is_exact_while_small_and_bounded_when_large() -> None:
    values = np.random.default_rng(1).normal(size=100_000)
    small = values[:300]
    assert sketch_quantiles(quantile_levels(small), [0.1, 0.5]) == pytest.approx(
        np.quantile(small, [0.1, 0.5]).tolist()
    )
    levels = quantile_levels(values)
    assert sum(len(level) for level in levels) < 10_000
    estimate = sketch_quantiles(levels, [0.5])[0]
    assert np.mean(values <= estimate) == pytest.approx(0.5, abs=0.01)


def test_merge_takes_the_kind_of_the_part_with_values() -> None:
    a = compute_statistics(pd.DataFrame({"c": pd.Series([None, None], dtype=object)}))
    b = compute_statistics(pd.DataFrame({"c": [1.0, 2.0]}))
    merged = a.merge(b).columns["c"]
    assert (merged.kind, merged.count, merged.nulls, merged.mean) == ("numeric", 2, 2, 1.5)


def test_merge_rejects_different_columns_or_kinds() -> None:
    a = compute_statistics(pd.DataFrame({"c": [1.0]}))
    with pytest.raises(InvalidInput, match="different columns"):
        a.merge(compute_statistics(pd.DataFrame({"d": [1.0]})))
    with pytest.raises(InvalidInput, match="column 'c': it holds numeric values"):
        a.merge(compute_statistics(pd.DataFrame({"c": ["x"]})))


def test_parquet_statistics_equal_the_frame_statistics(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(1000) % 17 * 0.5, "w": [f"v{i % 7}" for i in range(1000)]})
    path = tmp_path / "data.parquet"
    frame.to_parquet(path, index=False)
    chunked = compute_statistics_parquet(path, batch_rows=128)
    exact = compute_statistics(frame)
    assert chunked.rows == 1000
    for name in ("x", "w"):
        got, want = chunked.columns[name], exact.columns[name]
        assert (got.count, got.nulls, got.distinct, got.min, got.max, got.top_values) == (
            want.count,
            want.nulls,
            want.distinct,
            want.min,
            want.max,
            want.top_values,
        )
    assert chunked.columns["x"].mean == pytest.approx(exact.columns["x"].mean, rel=1e-9)


def test_parquet_statistics_name_a_bad_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        compute_statistics_parquet(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"bad\.parquet: not a readable Parquet file"):
        compute_statistics_parquet(bad)


ROWS, COLUMNS = 10_000_000, 4
DECODED = ROWS * COLUMNS * 8  # 320 MB of float64
HEADROOM = 200 * 2**20  # what the child may allocate beyond its imports: less than DECODED


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_parquet_statistics_run_in_less_memory_than_the_data(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    write_parquet(path, ROWS, COLUMNS)
    assert HEADROOM < DECODED

    result = run_capped(path, HEADROOM)

    assert result.returncode == 0, result.stderr[-2000:]
    assert (result.rows, result.count) == (ROWS, ROWS)
