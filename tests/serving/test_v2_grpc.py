"""The V2 gRPC service through Triton's generated stubs (another party's client code): typed
contents, the answering variant in the metadata, sticky routing on gRPC metadata, the inference
token, and a gateway asked for gRPC without grpcio."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from evergreen.errors import Unavailable
from evergreen.serving import create_app
from evergreen.serving.app import GatewayConfig
from evergreen.serving.protocols import v2_grpc

from .v2_served import Served, serve

TOKEN = "s3cret"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("grpc") / "eg", inference_token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def stub(served: Served) -> Iterator[Any]:
    with grpc.insecure_channel(served.grpc) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def typed_request(served: Served, model: str = "rentals", version: str = "") -> Any:
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version, id="t-1")
    rows = served.rows
    temp = request.inputs.add(name="temp", datatype="FP64", shape=[len(rows)])
    temp.contents.fp64_contents.extend(rows["temp"].tolist())
    humidity = request.inputs.add(name="humidity", datatype="FP32", shape=[len(rows), 1])
    humidity.contents.fp32_contents.extend(rows["humidity"].tolist())
    weekday = request.inputs.add(name="weekday", datatype="INT32", shape=[len(rows)])
    weekday.contents.int_contents.extend(rows["weekday"].tolist())
    return request


def outputs_of(response: Any) -> np.ndarray:
    output = response.outputs[0]
    assert output.datatype == "FP64"
    return np.frombuffer(response.raw_output_contents[0], dtype="<f8").reshape(list(output.shape))


def test_typed_contents(stub: Any, served: Served) -> None:
    response, call = stub.ModelInfer.with_call(typed_request(served), metadata=AUTH)
    rows = served.rows.assign(humidity=served.rows["humidity"].astype(np.float32))
    expected = served.models[("rentals", 2)].predict(rows.astype({"humidity": "float64"}))
    np.testing.assert_allclose(outputs_of(response), expected, rtol=1e-6)
    assert (response.model_name, response.model_version, response.id) == ("rentals", "2", "t-1")
    assert dict(call.initial_metadata())["x-evergreen-variant"] == "production"


def test_a_version_names_itself(stub: Any, served: Served) -> None:
    response, call = stub.ModelInfer.with_call(typed_request(served, version="1"), metadata=AUTH)
    assert response.model_version == "1"
    assert dict(call.initial_metadata())["x-model-version"] == "1"


def test_typed_out_of_range_is_invalid_argument(stub: Any, served: Served) -> None:
    request = typed_request(served)
    request.inputs[2].datatype = "INT8"
    request.inputs[2].contents.int_contents[0] = 300
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'weekday'" in caught.value.details()


def test_raw_of_the_wrong_size_is_invalid_argument(stub: Any, served: Served) -> None:
    request = service_pb2.ModelInferRequest(model_name="rentals")
    for name in served.rows.columns:
        request.inputs.add(name=name, datatype="FP64", shape=[len(served.rows)])
        request.raw_input_contents.append(served.rows[name].to_numpy(np.float64).tobytes())
    request.raw_input_contents[1] = request.raw_input_contents[1][:-8]
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'humidity'" in caught.value.details()


def test_unknown_version_is_not_found(stub: Any, served: Served) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelMetadata(
            service_pb2.ModelMetadataRequest(name="rentals", version="9"), metadata=AUTH
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "metadata", [(), (("authorization", "Bearer wrong"),)], ids=["missing", "wrong"]
)
def test_the_inference_token_is_required(stub: Any, served: Served, metadata: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(typed_request(served), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in caught.value.details()
    assert stub.ServerLive(service_pb2.ServerLiveRequest()).live  # health stays open


def test_sticky_routing_reads_grpc_metadata(stub: Any, served: Served) -> None:
    """The policy names ``X-User``; gRPC sends ``x-user``: each user keeps one variant."""
    seen: dict[str, set[str]] = {}
    for user in [f"user-{i}" for i in range(12)]:
        for _ in range(4):
            _, call = stub.ModelInfer.with_call(
                typed_request(served, model="split"), metadata=(*AUTH, ("x-user", user))
            )
            seen.setdefault(user, set()).add(dict(call.initial_metadata())["x-evergreen-variant"])
    assert all(len(variants) == 1 for variants in seen.values())
    assert set().union(*seen.values()) == {"a", "b"}


def test_a_grpc_call_counts_as_a_request_in_flight(
    stub: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone request may skip the batch thread only when it really is alone: gRPC calls count."""
    gateway = served.gateway
    seen: list[int] = []
    predict = gateway.predict

    async def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(gateway.in_flight.count)
        return await predict(*args, **kwargs)

    monkeypatch.setattr(gateway, "predict", counting)
    stub.ModelInfer(typed_request(served), metadata=AUTH)
    assert seen == [1] and gateway.in_flight.count == 0


def test_metadata_is_case_insensitive() -> None:
    metadata = v2_grpc._Metadata([("x-user", "ann"), ("blob-bin", b"\x00")])
    assert metadata.get("X-User") == "ann"
    assert "blob-bin" not in metadata


def test_without_grpcio_the_gateway_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, context: Any
) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)  # import grpc now raises ImportError
    with pytest.raises(Unavailable, match=r"pip install 'evergreen\[grpc\]'"):
        create_app(context.registry, None, config=GatewayConfig(grpc_port=0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_evergreen_serve_grpc_port(tmp_path: Path) -> None:
    """`evergreen serve --grpc-port` answers Triton's gRPC client, then stops on SIGTERM."""
    from cli.process import EVERGREEN, child_env

    http_port, grpc_port = free_port(), free_port()
    env = child_env(tmp_path / "home", tmp_path / "pycache")
    command = [str(EVERGREEN), "serve"]
    args = ["--port", str(http_port), "--grpc-port", str(grpc_port)]
    with subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as server:
        try:
            # The gRPC service starts before HTTP answers; a gRPC channel that failed to connect
            # backs off for longer and longer, so wait on HTTP and then connect once.
            deadline = time.monotonic() + 120
            while not answers(f"http://127.0.0.1:{http_port}/v2/health/live"):
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the gateway never answered"
                time.sleep(0.2)
            client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
            assert client.is_server_live()
            assert client.get_server_metadata().name == "evergreen"
            client.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


def test_evergreen_serve_without_grpcio_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from evergreen.cli.main import app

    monkeypatch.setitem(sys.modules, "grpc", None)
    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["serve", "--grpc-port", "0"])
    assert result.exit_code != 0
    assert "pip install 'evergreen[grpc]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
