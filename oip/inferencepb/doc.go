// Package inferencepb is the Go code of the Open Inference Protocol v2's
// gRPC service, inference.GRPCInferenceService, generated from the
// protocol's published grpc_predict_v2.proto (KServe, Apache 2.0; the file
// is here unmodified). Servers implement GRPCInferenceServiceServer; Go
// clients use NewGRPCInferenceServiceClient. Regenerate with
// generate.sh (go generate ./oip/inferencepb).
package inferencepb

//go:generate bash generate.sh
