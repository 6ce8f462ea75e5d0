#!/usr/bin/env bash
# Regenerate the Python stubs of the V2 gRPC service from its .proto (needs grpcio-tools, in the
# dev group: `uv sync`). The stubs are committed; run this after editing the .proto.
set -euo pipefail
cd "$(dirname "$0")/.."
stubs=src/evergreen/serving/protocols/grpc_stubs
python=${PYTHON:-.venv/bin/python}
# Generate as if the proto lived at the package root, then make the one import in the *_grpc
# module relative, so the stubs import from wherever evergreen is installed.
"$python" -m grpc_tools.protoc -I "$stubs" \
    --python_out="$stubs" --pyi_out="$stubs" --grpc_python_out="$stubs" \
    "$stubs/grpc_predict_v2.proto"
sed -i.bak 's/^import grpc_predict_v2_pb2 as /from . import grpc_predict_v2_pb2 as /' \
    "$stubs/grpc_predict_v2_pb2_grpc.py"
# Build the messages in a private descriptor pool: Triton's and KServe's own stubs declare the
# same `inference.*` messages in protobuf's default pool, and a process importing both (a test
# driving the gateway with tritonclient, a notebook) would fail with "duplicate symbol".
sed -i.bak 's/_descriptor_pool\.Default()\.AddSerializedFile(/_descriptor_pool.DescriptorPool().AddSerializedFile(/' \
    "$stubs/grpc_predict_v2_pb2.py"
grep -q '_descriptor_pool.DescriptorPool().AddSerializedFile(' "$stubs/grpc_predict_v2_pb2.py"
rm -f "$stubs"/*.bak
echo "regenerated $stubs/grpc_predict_v2_pb2{,_grpc}.py{,i}"
