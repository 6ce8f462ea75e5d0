"""Candidates and the search spec: what they refuse."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError
from sklearn.linear_model import Ridge

from evergreen.errors import InvalidInput
from evergreen.training.candidates import Candidate, Float, Int, SearchSpec


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Int(5, 1), "low 5 is above high 1"),
        (lambda: Int(0, 9, log=True), "needs low >= 1"),
        (lambda: Int(1, 9, log=True, step=2), "takes step 1"),
        (lambda: Float(0.0, 1.0, log=True), "needs low > 0"),
        (lambda: SearchSpec(budgets=(0.5,)), "end with 1.0"),
    ],
    ids=["int-bounds", "int-log-low", "int-log-step", "float-log-low", "budgets"],
)
def test_bad_specs_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()


def test_a_parameter_both_searched_and_fixed_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"\['alpha'\] are both searched and fixed"):
        Candidate("ridge", Ridge, space={"alpha": Float(0.1, 1)}, fixed={"alpha": 1})


def test_a_candidate_without_a_space_gets_one_trial() -> None:
    assert Candidate("ridge", Ridge).n_trials(8) == 1
    assert Candidate("ridge", Ridge, space={"alpha": Float(0.1, 1)}).n_trials(8) == 8
    assert Candidate("ridge", Ridge, space={"alpha": Float(0.1, 1)}, trials=3).n_trials(8) == 3
