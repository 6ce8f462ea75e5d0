"""Streams with known drift points, from river's generators (they run offline): the test beds
of the concept-drift literature, to check that a retraining policy reacts as it should.

- ``sea``: SEA concepts (Street & Kim 2001): three features in [0, 10], the class is whether
  ``x1 + x2`` is below a threshold that each variant changes (8, 9, 7, 9.5);
- ``agrawal``: Agrawal's loan applications, nine features, ten classification functions;
- ``hyperplane``: a hyperplane (Hulten et al. 2001) in ten uniform features: the class is which
  side of it a point lies on.

At each point of ``drift_at`` (row numbers) the concept switches abruptly to the next one of
``concepts`` (SEA's variant, Agrawal's function, or for ``hyperplane`` the seed of a new random
hyperplane); the inputs keep their distribution, so only the labels tell (a pure concept drift).
``hyperplane`` without drift points rotates gradually everywhere instead (``mag_change``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice, pairwise
from typing import Any

import pandas as pd

from evergreen.errors import InvalidInput

GENERATORS = ("sea", "agrawal", "hyperplane")
TARGET = "y"


def _generator(name: str, concept: int, seed: int, noise: float) -> Iterable[Any]:
    from river.datasets import synth

    if name == "sea":
        return synth.SEA(variant=concept, noise=noise, seed=seed)
    if name == "agrawal":
        return synth.Agrawal(classification_function=concept, seed=seed, perturbation=noise)
    if name == "hyperplane":  # one fixed hyperplane per concept
        return synth.Hyperplane(
            seed=seed + 1000 * concept, n_features=10, mag_change=0.0, noise_percentage=noise
        )
    raise InvalidInput(f"unknown generator {name!r}; choose from {', '.join(GENERATORS)}")


def synthetic_stream(
    name: str,
    rows: int,
    *,
    drift_at: Sequence[int] = (),
    concepts: Sequence[int] = (0, 1),
    seed: int = 7,
    noise: float = 0.0,
    mag_change: float = 0.001,
) -> pd.DataFrame:
    """``rows`` rows of generator ``name`` (see the module) as a table; the label is ``y``."""
    points = sorted(drift_at)
    if any(p <= 0 or p >= rows for p in points):
        raise InvalidInput(f"drift points {points} must lie inside the {rows} rows")
    if name == "hyperplane" and not points:
        from river.datasets import synth

        plane = synth.Hyperplane(seed=seed, n_features=10, mag_change=mag_change)
        records = list(islice(iter(plane), rows))
    else:
        if len(concepts) < len(points) + 1:
            raise InvalidInput(f"{len(points)} drift points need {len(points) + 1} concepts")
        records = []
        edges = [0, *points, rows]
        for part, (start, stop) in enumerate(pairwise(edges)):
            source = _generator(name, concepts[part], seed + part, noise)
            records.extend(islice(iter(source), stop - start))
    frame = pd.DataFrame([features for features, _ in records])
    frame.columns = [str(c) for c in frame.columns]
    frame[TARGET] = [int(label) for _, label in records]
    return frame
