"""The python flavor: custom models pickled by value with cloudpickle, so a class from a project
file loads where the file is absent; the registry's checksum stands before any unpickling."""

from __future__ import annotations

import importlib
import runpy
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from evergreen.errors import IntegrityFailure, InvalidInput
from evergreen.flavors import flavor_for, get_flavor
from evergreen.registry import Registry
from flavors.support import features, register_and_load, regression_target, signature

FLAVOR = get_flavor("python")
FRAME = features()
MODEL_FILE = """
import numpy as np

WEIGHT = 3.0


def helper(frame):
    return frame["temp"].to_numpy() * WEIGHT


class Rule:
    def __init__(self, offset):
        self.offset = offset

    def predict(self, frame):
        return helper(frame) + self.offset
"""
LOAD_ELSEWHERE = """
import sys
import pandas as pd
from evergreen.flavors import get_flavor

model = get_flavor("python").load(open(sys.argv[1], "rb").read())
print(model.predict(pd.DataFrame({"temp": [1.0, 2.0]})).tolist())
"""


def load_in_a_fresh_interpreter(data: bytes, tmp_path: Path) -> str:
    (tmp_path / "model.bin").write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, str(tmp_path / "model.bin")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_class_from_a_project_file_loads_without_the_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "model.py").write_text(MODEL_FILE)
    model = runpy.run_path(str(project / "model.py"))["Rule"](offset=1.0)
    assert flavor_for(model) is FLAVOR
    data = FLAVOR.save(model)
    (project / "model.py").unlink()
    assert load_in_a_fresh_interpreter(data, tmp_path) == "[4.0, 7.0]"


def test_a_class_from_an_imported_project_module_is_pickled_by_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rules_module.py").write_text(MODEL_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("rules_module")  # importable: cloudpickle would refer to it
    data = FLAVOR.save(module.Rule(offset=0.5))
    monkeypatch.delitem(sys.modules, "rules_module")
    assert "rules_module" not in cloudpickle.list_registry_pickle_by_value()
    (tmp_path / "rules_module.py").unlink()
    assert load_in_a_fresh_interpreter(data, tmp_path) == "[3.5, 6.5]"


def test_the_registry_checks_the_checksum_before_unpickling(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = runpy.run_path(_write(tmp_path))["Rule"](offset=2.0)
    sig = signature(FRAME, regression_target(FRAME), "regression")
    register_and_load(registry, model, "python", sig, FRAME)

    # The same, one level down: cloudpickle itself is never reached for corrupted bytes.
    row = registry.register("flavored", model, flavor="python", signature=sig, actor="alice")
    blob = Path(row.artifact_uri)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    unpickled: list[bytes] = []
    monkeypatch.setattr(cloudpickle, "loads", unpickled.append)
    with pytest.raises(IntegrityFailure):
        registry.load("flavored", row.version)
    assert unpickled == []


def test_params_of_a_model_without_get_params_are_empty(tmp_path: Path) -> None:
    model = runpy.run_path(_write(tmp_path))["Rule"](offset=2.0)
    assert FLAVOR.params(model) == {}
    assert np.allclose(FLAVOR.load(FLAVOR.save(model)).predict(FRAME), model.predict(FRAME))


def _write(folder: Path) -> str:
    file = folder / "rule.py"
    file.write_text(textwrap.dedent(MODEL_FILE))
    return str(file)


def test_a_model_cloudpickle_cannot_save_is_invalid_input() -> None:
    class Locked:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def predict(self, frame: object) -> None: ...

    with pytest.raises(InvalidInput, match="cannot save the Locked with cloudpickle"):
        FLAVOR.save(Locked())
