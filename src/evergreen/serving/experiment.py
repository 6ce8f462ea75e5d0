"""An experiment's verdict: how each variant of an endpoint does against the primary.

Read from the prediction log (every variant's and shadow's answers, latencies and errors) and
the feedback labels joined by request id:

* per variant: requests, error rate (Wilson interval), latency percentiles, and for shadows the
  agreement with the primary on the same requests;
* once labels arrive: the model metric (accuracy, or RMSE for regression) with a 95% interval,
  and the difference in per-request loss against the primary with an always-valid p-value from
  a mixture sequential probability ratio test (mSPRT, Johari et al., "Always Valid Inference",
  2017). The p-value is the running minimum over the labelled requests in time order, so an
  operator (or a rollout policy) may look at it as often as they like: stopping as soon as it
  falls below ``alpha`` keeps the false-positive rate at ``alpha``.

Shadows are compared request by request (a paired test: they answered the same requests);
A/B variants answered different requests, so they are compared as independent samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from evergreen.core.ids import ModelRef
from evergreen.errors import NotFound
from evergreen.registry import Registry
from evergreen.serving.endpoints import Endpoints
from evergreen.serving.model_cache import ServedEndpoint
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.endpoints import FeedbackRepository
from evergreen.store.predictions import PredictionRepository, read_segments

Z95 = 1.959963984540054
CHECKPOINTS = 50
# Prior spread of the true difference in loss, in units of the loss's standard deviation.
MIXTURE_SCALE = 0.2


@dataclass(frozen=True)
class Comparison:
    difference: float  # mean loss of the variant minus the primary's (lower loss is better)
    ci_low: float
    ci_high: float
    p_value: float
    n: int


def judge_endpoint(
    registry: Registry,
    endpoints: Endpoints,
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    feedback: FeedbackRepository,
    name: str,
    served: ServedEndpoint | None = None,
) -> dict[str, Any]:
    """The verdict on endpoint ``name`` since its policy was last set (on its whole log when
    the endpoint is a model served under its own name)."""
    stored = next((e for e in endpoints.list() if e.name == name), None)
    if stored is not None:
        primary, ref, since = (
            stored.policy.primary.name,
            stored.policy.primary.model,
            (stored.updated_at),
        )
    elif served is not None:
        primary, ref, since = served.primary.name, served.primary.ref, None
    elif registry.production(name) is not None:
        primary, ref, since = "production", f"{name}@production", None
    else:
        raise NotFound(f"no endpoint named {name!r}; see `evergreen endpoints list`")
    task = registry.get_model(ModelRef.parse(ref).name).task
    result = verdict(
        predictions, artifacts, feedback, name, task=task, primary=primary, since=since
    )
    result["since"] = since.isoformat() if since else None
    return result


def verdict(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    feedback: FeedbackRepository,
    endpoint: str,
    *,
    task: str,
    primary: str | None = None,
    since: datetime | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The verdict on ``endpoint`` from its prediction log (since ``since``)."""
    segments = predictions.endpoint_segments(endpoint, created_after=since)
    rows = read_segments(artifacts, segments, with_source=True)
    metric = "accuracy" if task == "classification" else "rmse"
    if since is not None and not rows.empty:  # a segment may also hold rows logged before
        rows = rows[rows["ts"] >= pd.Timestamp(since)]
    if rows.empty:  # the same keys as a verdict on logged requests
        return {
            "endpoint": endpoint,
            "metric": metric,
            "lower_is_better": metric == "rmse",
            "primary": primary,
            "alpha": alpha,
            "requests": 0,
            "labelled": 0,
            "variants": [],
            "summary": "no logged requests yet",
        }
    rows = rows.sort_values("ts", kind="stable")
    per_request = rows.drop_duplicates(["request_id", "variant"])
    labels = feedback.labels(list(per_request["request_id"].astype(str).unique()))
    per_request = per_request.assign(
        label=per_request["request_id"].astype(str).map(lambda r: labels.get(r))
    )
    primary = primary or _most_answered(per_request)
    base = per_request[per_request["variant"] == primary]
    variants = []
    for name, group in per_request.groupby("variant", sort=False):
        variants.append(_variant(str(name), group, base, task, primary, alpha))
    variants.sort(key=lambda v: (v["name"] != primary, v["role"], v["name"]))
    return {
        "endpoint": endpoint,
        "metric": metric,
        "lower_is_better": metric == "rmse",
        "primary": primary,
        "alpha": alpha,
        "requests": int(per_request["request_id"].nunique()),
        "labelled": int(sum(1 for r in per_request["request_id"].unique() if str(r) in labels)),
        "variants": variants,
        "summary": _summary(variants, primary),
    }


def _most_answered(rows: pd.DataFrame) -> str:
    primary_rows = rows[rows["role"] == "primary"]
    counts = (primary_rows if not primary_rows.empty else rows)["variant"].value_counts()
    return str(counts.index[0])


def _variant(
    name: str, group: pd.DataFrame, base: pd.DataFrame, task: str, primary: str, alpha: float
) -> dict[str, Any]:
    errors = group["error"].notna()
    answered = group[~errors]
    latency = answered["latency_ms"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "name": name,
        "role": str(group["role"].iloc[-1]),  # its role under the current policy
        "models": sorted(
            {f"{m}:{v}" for m, v in zip(group["model"], group["version"], strict=True)}
        ),
        "requests": len(group),
        "errors": int(errors.sum()),
        "error_rate": _rate(int(errors.sum()), len(group)),
        "latency_ms": {
            f"p{q}": round(float(np.percentile(latency, q)), 3) if latency.size else None
            for q in (50, 95, 99)
        },
    }
    labelled = answered[answered["label"].notna()]
    loss = _loss(labelled, task)
    out["labelled"] = len(labelled)
    out["metric"] = _metric(loss, task)
    if name == primary:
        return out
    if out["role"] == "shadow":
        out["agreement"] = _agreement(answered, base[base["error"].isna()], task)
    out["vs_primary"] = _versus(labelled, base, task, paired=out["role"] == "shadow", alpha=alpha)
    return out


def _loss(rows: pd.DataFrame, task: str) -> np.ndarray:
    """Per-request loss: 0/1 misclassification, or squared error."""
    if rows.empty:
        return np.empty(0)
    if task == "classification":
        return (rows["prediction"].astype(str) != rows["label"].astype(str)).to_numpy(float)
    predicted = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(float)
    actual = pd.to_numeric(rows["label"], errors="coerce").to_numpy(float)
    return np.asarray((predicted - actual) ** 2, dtype=float)


def _metric(loss: np.ndarray, task: str) -> dict[str, Any] | None:
    n = loss.size
    if n == 0:
        return None
    if task == "classification":
        correct = n - int(loss.sum())
        low, high = _wilson(correct, n)
        return {"name": "accuracy", "value": correct / n, "ci_low": low, "ci_high": high, "n": n}
    mse = float(loss.mean())
    half = Z95 * float(loss.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return {
        "name": "rmse",
        "value": math.sqrt(mse),
        "ci_low": math.sqrt(max(0.0, mse - half)),
        "ci_high": math.sqrt(mse + half) if math.isfinite(half) else None,
        "n": n,
    }


def _agreement(rows: pd.DataFrame, base: pd.DataFrame, task: str) -> float | None:
    joined = rows.merge(base, on="request_id", suffixes=("", "_primary"))
    if joined.empty:
        return None
    if task == "classification":
        same = joined["prediction"].astype(str) == joined["prediction_primary"].astype(str)
    else:
        a = pd.to_numeric(joined["prediction"], errors="coerce").to_numpy(float)
        b = pd.to_numeric(joined["prediction_primary"], errors="coerce").to_numpy(float)
        same = pd.Series(np.isclose(a, b, rtol=1e-3, atol=1e-6))
    return float(same.mean())


def _versus(
    rows: pd.DataFrame, base: pd.DataFrame, task: str, *, paired: bool, alpha: float
) -> dict[str, Any] | None:
    base = base[base["error"].isna() & base["label"].notna()]
    if paired:
        joined = rows.merge(base, on="request_id", suffixes=("", "_primary"))
        if len(joined) < 2:
            return None
        mine = _loss(joined, task)
        theirs = _loss(
            joined[["prediction_primary", "label"]].rename(
                columns={"prediction_primary": "prediction"}
            ),
            task,
        )
        result = _paired(mine - theirs)
    else:
        if len(rows) < 2 or len(base) < 2:
            return None
        result = _independent(_loss(rows, task), _loss(base, task))
    better = result.difference < 0
    significant = result.p_value < alpha
    return {
        "loss_difference": result.difference,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "n": result.n,
        "significant": significant,
        "verdict": ("better" if better else "worse") if significant else "no difference yet",
    }


def _paired(differences: np.ndarray) -> Comparison:
    p = _running_p(lambda k: _stats(differences[:k]), differences.size)
    mean, var = _stats(differences)
    half = Z95 * math.sqrt(var)
    return Comparison(mean, mean - half, mean + half, p, differences.size)


def _independent(mine: np.ndarray, theirs: np.ndarray) -> Comparison:
    def at(k: int) -> tuple[float, float]:
        a = mine[: max(2, round(k * mine.size / total))]
        b = theirs[: max(2, round(k * theirs.size / total))]
        ma, va = _stats(a)
        mb, vb = _stats(b)
        return ma - mb, va + vb

    total = mine.size + theirs.size
    p = _running_p(at, total)
    mean, var = at(total)
    half = Z95 * math.sqrt(var)
    return Comparison(mean, mean - half, mean + half, p, total)


def _stats(values: np.ndarray) -> tuple[float, float]:
    """The mean and the variance of the mean."""
    n = values.size
    if n < 2:
        return float(values.mean()) if n else 0.0, math.inf
    return float(values.mean()), float(values.var(ddof=1)) / n


def _running_p(at: Any, total: int) -> float:
    """The always-valid p-value: the smallest 1/Λ over checkpoints in arrival order."""
    p = 1.0
    step = max(2, total // CHECKPOINTS)
    for k in [*range(step, total, step), total]:
        mean, var = at(k)
        p = min(p, _msprt_p(mean, var, k))
    return p


def _msprt_p(mean: float, var: float, n: int) -> float:
    """1/Λ for a normal mixture over the true difference, N(0, τ²), τ = scale * sd."""
    if not math.isfinite(var) or var <= 0:
        return 1.0 if var != 0 or mean == 0 else 0.0
    sd = math.sqrt(var * n)  # the per-observation standard deviation
    tau2 = (MIXTURE_SCALE * sd) ** 2
    log_lambda = 0.5 * math.log(var / (var + tau2)) + tau2 * mean**2 / (2 * var * (var + tau2))
    return float(min(1.0, math.exp(-log_lambda)))


def _rate(count: int, n: int) -> dict[str, float] | None:
    if n == 0:
        return None
    low, high = _wilson(count, n)
    return {"value": count / n, "ci_low": low, "ci_high": high}


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _summary(variants: list[dict[str, Any]], primary: str) -> str:
    parts = []
    for v in variants:
        if v["name"] == primary:
            continue
        versus = v.get("vs_primary")
        if versus is None:
            parts.append(f"{v['name']}: not enough labelled requests to compare yet")
        else:
            parts.append(
                f"{v['name']}: {versus['verdict']} than {primary} "
                f"(p={versus['p_value']:.3g}, n={versus['n']})"
                if versus["significant"]
                else f"{v['name']}: no significant difference from {primary} yet "
                f"(p={versus['p_value']:.3g}, n={versus['n']})"
            )
    return "; ".join(parts) or f"only {primary} answered"
