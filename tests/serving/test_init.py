from __future__ import annotations

import evergreen.serving as serving


def test_public_names_are_sorted_and_exported() -> None:
    assert serving.__all__ == sorted(serving.__all__)
    for name in serving.__all__:
        assert getattr(serving, name).__module__.startswith("evergreen.serving.")
    public = {n for n in dir(serving) if not n.startswith("_")}
    modules = {
        "access_log",
        "app",
        "array_path",
        "batching",
        "control_api",
        "cpu_wait",
        "endpoints",
        "errors",
        "event_loop",
        "experiment",
        "frames",
        "gateway",
        "in_flight",
        "limits",
        "log_process",
        "log_segments",
        "loader",
        "metrics",
        "model_cache",
        "policy",
        "prediction_log",
        "protocols",
        "registry_api",
        "server",
        "shadows",
        "time_slice",
    }
    assert public - modules == set(serving.__all__)
