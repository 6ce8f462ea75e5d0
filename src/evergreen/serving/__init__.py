"""The inference gateway: the Open Inference Protocol V2 (REST and gRPC) and MLflow's scoring
protocol over endpoints with A/B/n and shadow variants, micro-batching, hot swaps that follow the
registry, the prediction log and feedback labels."""

from evergreen.serving.app import GatewayConfig, create_app
from evergreen.serving.batching import BatchingSpec
from evergreen.serving.gateway import Gateway
from evergreen.serving.model_cache import ModelCache
from evergreen.serving.policy import EndpointPolicy, Shadow, Variant
from evergreen.serving.prediction_log import PredictionLogWriter
from evergreen.serving.server import GatewayThread, serve

__all__ = [
    "BatchingSpec",
    "EndpointPolicy",
    "Gateway",
    "GatewayConfig",
    "GatewayThread",
    "ModelCache",
    "PredictionLogWriter",
    "Shadow",
    "Variant",
    "create_app",
    "serve",
]
