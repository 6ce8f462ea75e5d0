from __future__ import annotations

import random
from collections import Counter

import pytest

from evergreen.errors import InvalidInput
from evergreen.serving.policy import EndpointPolicy, choose


def test_weights_split_traffic_in_proportion() -> None:
    rng = random.Random(7)
    counts = Counter(choose([1.0, 3.0], None, rng) for _ in range(20_000))
    assert counts[1] / 20_000 == pytest.approx(0.75, abs=0.02)


def test_a_key_always_gets_the_same_variant_and_keys_spread_by_weight() -> None:
    weights = [0.5, 0.3, 0.2]
    picks = {f"user-{i}": choose(weights, f"user-{i}") for i in range(6000)}
    assert all(choose(weights, key) == index for key, index in list(picks.items())[:500])
    shares = Counter(picks.values())
    for index, weight in enumerate(weights):
        assert shares[index] / len(picks) == pytest.approx(weight, abs=0.03)


def test_zero_weight_variant_never_answers() -> None:
    assert {choose([0.0, 1.0], f"k{i}") for i in range(500)} == {1}


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ({"variants": []}, "variants"),
        ({"variants": [{"name": "a", "model": "m", "weight": 0}]}, "weight above 0"),
        ({"variants": [{"name": "a", "model": "m"}], "shadows": [{"name": "a", "model": "m"}]},
         "repeated: ['a']"),
        ({"variants": [{"name": "a", "model": "m:x"}]}, "NAME:VERSION"),
        ({"variants": [{"name": "a b", "model": "m"}]}, "variant name 'a b'"),
        ({"variants": [{"name": "a", "model": "m", "wieght": 2}]}, "wieght"),
        ({"variants": [{"name": "a", "model": "m"}], "shadows": [
            {"name": "s", "model": "m", "sample": 1.5}]}, "shadows.0.sample"),
    ],
)  # fmt: skip
def test_bad_policies_name_the_field(policy: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidInput, match="invalid endpoint policy") as caught:
        EndpointPolicy.parse(policy)
    assert needle in str(caught.value)


def test_policy_round_trips_through_json() -> None:
    policy = EndpointPolicy.parse(
        {
            "variants": [
                {"name": "a", "model": "m@champion", "weight": 2},
                {"name": "b", "model": "m:3"},
            ],
            "shadows": [{"name": "s", "model": "m@staging", "sample": 0.5}],
            "sticky": "X-User",
        }
    )
    assert EndpointPolicy.parse(policy.to_json()) == policy
    assert policy.primary.name == "a"
