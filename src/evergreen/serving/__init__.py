"""The inference gateway: Open Inference Protocol V2 over HTTP, a model cache that follows the
registry's production versions, and the prediction log."""

from evergreen.serving.app import create_app
from evergreen.serving.model_cache import ModelCache
from evergreen.serving.prediction_log import PredictionLogWriter
from evergreen.serving.server import GatewayThread, serve

__all__ = [
    "GatewayThread",
    "ModelCache",
    "PredictionLogWriter",
    "create_app",
    "serve",
]
