#!/usr/bin/env bash
# Regenerates the Go code of the Open Inference Protocol's gRPC service from
# grpc_predict_v2.proto, the protocol's published file (KServe,
# docs/predict-api/v2/grpc_predict_v2.proto, Apache 2.0), kept unmodified:
# the Go package is given on the command line instead of in the file.
# The generators are pinned; protoc is Debian's protobuf-compiler (3.21.12).
set -euo pipefail
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
pkg=github.com/implicitlab/implicit/oip/inferencepb
PATH=$bin:$PATH protoc -I . \
	--go_out=. --go_opt=paths=source_relative --go_opt=Mgrpc_predict_v2.proto=$pkg \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mgrpc_predict_v2.proto=$pkg \
	grpc_predict_v2.proto
