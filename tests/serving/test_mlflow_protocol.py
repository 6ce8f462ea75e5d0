"""MLflow's scoring protocol, driven by MLflow's own client and payload helpers against a real
gateway."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from importlib.metadata import version as package_version
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from evergreen.bootstrap import Context
from evergreen.errors import InvalidInput
from evergreen.flavors import Signature
from evergreen.flavors.base import ColumnSpec
from evergreen.serving import GatewayConfig, create_app
from evergreen.serving.protocols import mlflow

from .conftest import Gateway, Publish, Published, StartGateway

with warnings.catch_warnings():  # MLflow warns about its own type hints while importing
    warnings.simplefilter("ignore")
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient
    from mlflow.utils.proto_json_utils import dump_input_data

ROWS = 5


@pytest.fixture
def served(publish: Publish, start_gateway: StartGateway) -> tuple[Published, Gateway]:
    published = publish()
    return published, start_gateway()


def expected(published: Published, rows: int = ROWS) -> list[float]:
    values: list[float] = published.model.predict(published.features.head(rows)).tolist()
    return values


def post(gateway: Gateway, content: str | bytes, content_type: str | None = None) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return gateway.client.post("/invocations", content=content, headers=headers)


def test_mlflow_scoring_client(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    client = ScoringServerClient("127.0.0.1", gateway.thread.port)
    client.ping()
    assert client.get_version() == package_version("evergreen")
    result = client.invoke(published.features.head(ROWS))
    predicted = result.get_predictions(predictions_format="ndarray")
    np.testing.assert_allclose(predicted, expected(published))


def _split(frame: pd.DataFrame) -> str:
    return dump_input_data(frame)  # MLflow's own: {"dataframe_split": {...}} with the index


def _split_without_index(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split", index=False)})


def _records(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_records": frame.to_dict(orient="records")})


def _instances(frame: pd.DataFrame) -> str:
    return json.dumps({"instances": frame.to_dict(orient="records")})


def _inputs_columns(frame: pd.DataFrame) -> str:
    return json.dumps({"inputs": frame.to_dict(orient="list"), "params": {"unused": 1}})


def _inputs_matrix(frame: pd.DataFrame) -> str:
    return dump_input_data(frame.to_numpy())  # MLflow's own: {"inputs": [[...], ...]}


@pytest.mark.parametrize(
    "payload",
    [_split, _split_without_index, _records, _instances, _inputs_columns, _inputs_matrix],
    ids=["split", "split-no-index", "records", "instances", "inputs-columns", "inputs-matrix"],
)
def test_every_json_format_predicts_like_the_model(
    served: tuple[Published, Gateway], payload: Callable[[pd.DataFrame], str]
) -> None:
    published, gateway = served
    response = post(gateway, payload(published.features.head(ROWS)), "application/json")
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], expected(published))
    assert response.headers["X-Model-Version"] == str(published.version)
    assert response.headers["X-Evergreen-Variant"] == "production"
    assert response.headers["X-Request-Id"]


def test_missing_content_type_is_json(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    response = post(gateway, _records(published.features.head(ROWS)))
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], expected(published))


def test_csv(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    csv = published.features.head(ROWS).to_csv(index=False)
    response = post(gateway, csv, "text/csv; charset=utf-8")
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], expected(published))


def test_parquet(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    body = published.features.head(ROWS).to_parquet()
    response = post(gateway, body, mlflow.CONTENT_TYPE_PARQUET)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], expected(published))


def test_named_endpoint_path_and_request_id(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    response = gateway.client.post(
        "/endpoints/rentals/invocations",
        content=_records(published.features.head(2)),
        headers={"Content-Type": "application/json", "X-Request-Id": "req-42"},
    )
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], expected(published, 2))
    assert response.headers["X-Request-Id"] == "req-42"


def _both(frame: pd.DataFrame) -> str:
    records = frame.to_dict(orient="records")
    return json.dumps({"dataframe_records": records, "instances": records})


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (_both, "application/json", 400, "exactly one of the input fields"),
        (lambda f: json.dumps({"data": [[1, 2, 3]]}), "application/json", 400, "exactly one of"),
        (lambda f: '{"dataframe_records": [', "application/json", 400, "valid JSON"),
        (lambda f: json.dumps([1, 2]), "application/json", 400, "Received a JSON list"),
        (
            lambda f: json.dumps({"dataframe_split": {"columns": ["temp", "humidity"]}}),
            "application/json",
            400,
            "'data' field",
        ),
        (
            lambda f: _records(f.rename(columns={"temp": "tmp"})),
            "application/json",
            400,
            "missing column(s) 'temp'",
        ),
        (
            lambda f: json.dumps(
                {
                    "dataframe_split": {
                        "columns": ["tmp", "humidity", "weekday"],
                        "data": [[1, 2, 3]],
                    }
                }
            ),
            "application/json",
            400,
            "got unexpected column(s) 'tmp'",
        ),
        (
            lambda f: json.dumps(
                {"dataframe_split": {"columns": list(f.columns), "data": [[1.0, 2.0]]}}
            ),
            "application/json",
            400,
            "dataframe_split.data[0] has 2 values",
        ),
        (
            lambda f: json.dumps(
                {"inputs": {"temp": [1.0], "humidity": [1.0, 2.0], "weekday": [1]}}
            ),
            "application/json",
            400,
            "inputs['humidity'] has 2 values",
        ),
        (
            lambda f: _records(f.assign(temp="warm")),
            "application/json",
            400,
            "column 'temp' cannot be read as float64",
        ),
        (
            lambda f: _records(f.assign(weekday=1.5)),
            "application/json",
            400,
            "column 'weekday' cannot be read as int64",
        ),
        (
            lambda f: f.drop(columns=["humidity"]).to_csv(index=False),
            "text/csv",
            400,
            "missing column(s) 'humidity'",
        ),
        (lambda f: "", "text/csv", 400, "CSV body cannot be read"),
        (lambda f: _records(f), "application/xml", 415, "content types"),
        (lambda f: _records(f), "application/json; charset=latin-1", 415, "UTF-8"),
    ],
    ids=[
        "both-keys",
        "no-key",
        "bad-json",
        "not-an-object",
        "split-without-data",
        "wrong-column-records",
        "wrong-column-split",
        "short-row",
        "ragged-columns",
        "wrong-type",
        "not-an-integer",
        "csv-missing-column",
        "csv-empty",
        "unsupported-type",
        "unsupported-charset",
    ],
)
def test_refusals_answer_mlflows_error_shape(
    served: tuple[Published, Gateway],
    body: Callable[[pd.DataFrame], str],
    content_type: str,
    status: int,
    says: str,
) -> None:
    published, gateway = served
    response = post(gateway, body(published.features.head(ROWS)), content_type)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"error_code", "message"}
    assert error["error_code"] == "BAD_REQUEST"
    assert says in error["message"]


def test_client_raises_on_refusal(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    client = ScoringServerClient("127.0.0.1", gateway.thread.port)
    with pytest.raises(Exception, match="error code 400"):
        client.invoke(published.features.head(ROWS).drop(columns=["temp"]))


def test_ping_health_and_version(served: tuple[Published, Gateway]) -> None:
    _, gateway = served
    for path in ("/ping", "/health"):
        response = gateway.client.get(path)
        assert (response.status_code, response.text) == (200, "\n")
    assert gateway.client.get("/version").text == package_version("evergreen")


def test_invocations_needs_a_default_with_several_endpoints(
    publish: Publish, start_gateway: StartGateway
) -> None:
    published = publish("rentals")
    publish("bikes", seed=1)
    gateway = start_gateway()
    response = post(gateway, _records(published.features.head(2)), "application/json")
    assert response.status_code == 400
    message = response.json()["message"]
    assert "--default-endpoint" in message
    assert "/endpoints/{name}/invocations" in message
    assert "bikes, rentals" in message
    named = gateway.client.post(
        "/endpoints/rentals/invocations", content=_records(published.features.head(2))
    )
    np.testing.assert_allclose(named.json()["predictions"], expected(published, 2))


def test_default_endpoint_from_config(publish: Publish, start_gateway: StartGateway) -> None:
    publish("rentals")
    bikes = publish("bikes", seed=1)
    gateway = start_gateway(config=GatewayConfig(default_endpoint="bikes"))
    response = post(gateway, _records(bikes.features.head(3)), "application/json")
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], expected(bikes, 3))


def test_unknown_endpoint_is_404(served: tuple[Published, Gateway]) -> None:
    published, gateway = served
    response = gateway.client.post(
        "/endpoints/nope/invocations", content=_records(published.features.head(1))
    )
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "'nope'" in response.json()["message"]


def test_no_endpoint_served_is_404(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    response = post(gateway, json.dumps({"inputs": [[1.0, 2.0, 3]]}))
    assert response.status_code == 404
    assert "no endpoint is served" in response.json()["message"]


def test_classifier_predicts_labels(publish: Publish, start_gateway: StartGateway) -> None:
    published = publish("load", task="classification")
    gateway = start_gateway()
    client = ScoringServerClient("127.0.0.1", gateway.thread.port)
    result = client.invoke(published.features.head(ROWS))
    labels = result.get_predictions(predictions_format="ndarray").tolist()
    assert labels == published.model.predict(published.features.head(ROWS)).tolist()
    assert set(labels) <= {"busy", "quiet"}


def test_not_ready_is_503(context: Context) -> None:
    """Before its first registry refresh (here: the lifespan never runs), health says so."""
    app = create_app(context.registry, None)

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [
                await client.get("/ping"),
                await client.get("/health"),
                await client.post("/invocations", content=json.dumps({"inputs": [[1.0, 2, 3]]})),
            ]

    ping, health, invocation = asyncio.run(ask())
    assert (ping.status_code, health.status_code) == (503, 503)
    assert invocation.status_code == 503
    assert invocation.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "retry" in invocation.json()["message"]


# -- parsing, without a server ---------------------------------------------------------------
SIGNATURE = Signature(
    inputs=[ColumnSpec(name="city", dtype="string"), ColumnSpec(name="temp", dtype="float64")],
    output=ColumnSpec(name="label", dtype="string"),
    task="classification",
)


def test_csv_keeps_string_columns_as_text() -> None:
    frame = mlflow.frame_from_csv(b"city,temp\n007,1.5\n", SIGNATURE)
    assert frame["city"].tolist() == ["007"]


def test_inputs_of_single_values_is_one_row() -> None:
    frame = mlflow.frame_from_json({"inputs": {"city": "oslo", "temp": 3.0}}, SIGNATURE)
    assert frame.to_dict(orient="records") == [{"city": "oslo", "temp": 3.0}]


def test_records_name_the_row_missing_a_column() -> None:
    payload: dict[str, Any] = {"dataframe_records": [{"city": "a", "temp": 1}, {"city": "b"}]}
    with pytest.raises(InvalidInput, match=r"dataframe_records\[1\] is missing .*'temp'"):
        mlflow.frame_from_json(payload, SIGNATURE)


def test_predictions_are_json_values() -> None:
    assert mlflow.predictions(np.array([1.5, np.nan, np.inf])) == [1.5, None, None]
    assert mlflow.predictions(np.array(["busy", "quiet"], dtype=object)) == ["busy", "quiet"]
    assert mlflow.predictions(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
