"""A project's pipeline graph: steps added and replaced, edges by the data they read, and the
fingerprints that decide what a rerun reuses."""

from __future__ import annotations

import dataclasses
import functools
import runpy
from pathlib import Path

import pandas as pd
import pytest

import evergreen as eg
from evergreen.errors import InvalidInput
from evergreen.pipeline.project import Project
from evergreen.pipeline.steps import code_fingerprint


@eg.step(after="prepare", outputs=["prepared"])
def rush_hour(prepared: pd.DataFrame) -> pd.DataFrame:
    return prepared.assign(rush=prepared["hr"].isin([7, 8, 17, 18]))


def test_a_step_after_prepare_feeds_split(project: Project) -> None:
    graph = dataclasses.replace(project, steps=[rush_hour]).graph()
    assert graph.names == [
        "ingest",
        "validate",
        "prepare",
        "rush_hour",
        "split",
        "train",
        "evaluate",
        "gate",
        "register",
        "promote",
    ]
    reads = {(e.source, e.target, e.artifact) for e in graph.edges}
    assert ("prepare", "rush_hour", "prepared") in reads
    assert ("rush_hour", "split", "prepared") in reads
    assert ("prepare", "split", "prepared") not in reads
    assert {"ingest", "prepare", "rush_hour", "split"} <= graph.upstream("train")
    assert "validate" not in graph.upstream("train")  # independent of training
    mermaid = graph.to_mermaid()
    assert mermaid.startswith("flowchart TD")
    assert "rush_hour[[rush_hour]]" in mermaid  # a project's step is drawn apart
    assert "rush_hour -->|prepared| split" in mermaid


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: eg.step("extra", outputs=["x"])(lambda raw: raw), "say where it goes"),
        (
            lambda: eg.step("extra", after="nowhere", outputs=["x"])(lambda raw: raw),
            "'nowhere', which",
        ),
        (
            lambda: eg.step("late", after="ingest", outputs=["x"])(lambda metrics: metrics),
            "reads 'metrics', which no step before it writes",
        ),
        (
            lambda: eg.step("train", outputs=["model"])(lambda train: train),
            "must also write ['search', 'train_seconds']",
        ),
        (
            lambda: eg.step("split", after="prepare", outputs=["train"])(lambda raw: raw),
            "takes its place; drop after=",
        ),
    ],
    ids=["no-place", "unknown-after", "reads-later-output", "replace-missing", "replace-after"],
)
def test_bad_steps_are_refused_when_the_project_is_made(
    project: Project, make: object, words: str
) -> None:
    with pytest.raises(InvalidInput, match=words.replace("[", r"\[").replace("]", r"\]")):
        dataclasses.replace(project, steps=[make()])  # type: ignore[operator]


def test_two_steps_after_the_same_one_keep_the_projects_order(project: Project) -> None:
    first = eg.step("first", after="prepare", outputs=["prepared"])(lambda prepared: prepared)
    second = eg.step("second", after="prepare", outputs=["prepared"])(lambda prepared: prepared)
    names = dataclasses.replace(project, steps=[first, second]).graph().names
    assert names[2:5] == ["prepare", "first", "second"]


def test_code_fingerprints_follow_code_constants_and_helpers(tmp_path: Path) -> None:
    def fingerprint_of(source: str) -> str:
        file = tmp_path / "steps.py"
        file.write_text(source)
        return code_fingerprint(runpy.run_path(str(file))["work"])

    base = (
        "DAYS = 120\ndef helper(x):\n    return x + 1\ndef work(x):\n    return helper(x) * DAYS\n"
    )
    same = fingerprint_of(base)
    assert fingerprint_of(base) == same  # stable across loads
    assert fingerprint_of(base.replace("DAYS = 120", "DAYS = 90")) != same
    assert fingerprint_of(base.replace("x + 1", "x + 2")) != same  # a helper it calls
    assert fingerprint_of(base.replace("* DAYS", "- DAYS")) != same
    assert fingerprint_of(base + "\nUNUSED = 1\n") == same  # what it does not use


def test_code_fingerprints_see_partial_arguments_and_estimator_parameters() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    def build(depth: int) -> object:
        return depth

    assert code_fingerprint(functools.partial(build, 3)) != code_fingerprint(
        functools.partial(build, 4)
    )
    assert code_fingerprint(HistGradientBoostingRegressor(max_iter=10)) != code_fingerprint(
        HistGradientBoostingRegressor(max_iter=20)
    )
