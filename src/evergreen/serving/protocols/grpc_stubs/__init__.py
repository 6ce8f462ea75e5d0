"""Generated stubs of the V2 gRPC service (``grpc_predict_v2.proto``); regenerate them with
``scripts/generate-grpc.sh``. Importing them needs the ``grpc`` extra (grpcio, protobuf)."""
