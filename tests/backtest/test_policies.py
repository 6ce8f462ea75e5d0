"""Policy names: the five kinds, normalised, and one clear error for anything else."""

from __future__ import annotations

import pytest

from evergreen.backtest.policies import Policy, parse_policies, parse_policy
from evergreen.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never", Policy("never")),
        ("every:1", Policy("every:1", every=1)),
        (" EVERY:07 ", Policy("every:7", every=7)),
        ("drift", Policy("drift", drift=True)),
        ("performance", Policy("performance", performance=True)),
        ("drift+performance", Policy("drift+performance", drift=True, performance=True)),
        ("performance+drift", Policy("drift+performance", drift=True, performance=True)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_parses_each_kind(text: str, expected: Policy) -> None:
    assert parse_policy(text) == expected
    assert parse_policy(text).retrains is (expected.name != "never")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sometimes", "unknown policy 'sometimes'; known policies: never, every:N"),
        ("every:0", "every:N needs a positive whole number"),
        ("every:x", "every:N needs a positive whole number"),
        ("every:", "every:N needs a positive whole number"),
        ("drift+drift", "unknown policy"),
        ("drift+never", "unknown policy"),
    ],
)
def test_bad_policy_names_the_known_ones(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("+", r"\+")):
        parse_policy(text)


def test_parses_a_list_in_order() -> None:
    names = [p.name for p in parse_policies("never, every:5,drift,,performance")]
    assert names == ["never", "every:5", "drift", "performance"]


@pytest.mark.parametrize(
    ("text", "message"), [("", "--policies is empty"), ("drift,every:2,drift", "more than once")]
)
def test_bad_lists(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_policies(text)
