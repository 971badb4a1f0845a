package oip

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/implicitlab/implicit/oip/inferencepb"
)

// grpcService is inference.GRPCInferenceService on a Server.
type grpcService struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// done counts and logs a gRPC call that began at t0 and returns err.
func (g *grpcService) done(ctx context.Context, rpc, model string, t0 time.Time, err *Error, attrs ...slog.Attr) error {
	code := codes.OK
	if err != nil {
		code = err.Code.GRPCCode()
		attrs = append(attrs, slog.String("error", err.Msg))
	}
	g.s.metrics.observeRequest("grpc", rpc, g.s.modelLabel(model), code.String(), t0)
	level := slog.LevelInfo
	if code != codes.OK && err.Code != BadRequest && err.Code != NotFound {
		level = slog.LevelWarn
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok {
		remote = p.Addr.String()
	}
	g.s.log.LogAttrs(context.WithoutCancel(ctx), level, "request", append([]slog.Attr{
		slog.String("protocol", "grpc"), slog.String("rpc", rpc), slog.String("code", code.String()),
		slog.Duration("duration", time.Since(t0)), slog.String("remote", remote),
	}, attrs...)...)
	if err != nil {
		return status.Error(code, err.Msg)
	}
	return nil
}

func (g *grpcService) ServerLive(ctx context.Context, _ *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return &inferencepb.ServerLiveResponse{Live: true}, g.done(ctx, "ServerLive", "", time.Now(), nil)
}

func (g *grpcService) ServerReady(ctx context.Context, _ *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	return &inferencepb.ServerReadyResponse{Ready: g.s.Ready()}, g.done(ctx, "ServerReady", "", time.Now(), nil)
}

func (g *grpcService) ServerMetadata(ctx context.Context, _ *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	md := g.s.serverMetadata()
	return &inferencepb.ServerMetadataResponse{Name: md.Name, Version: md.Version, Extensions: md.Extensions},
		g.done(ctx, "ServerMetadata", "", time.Now(), nil)
}

func (g *grpcService) ModelReady(ctx context.Context, req *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	t0 := time.Now()
	e, aerr := g.s.lookup(req.GetName())
	if aerr == nil {
		aerr = checkVersion(req.GetVersion())
	}
	if aerr != nil {
		return nil, g.done(ctx, "ModelReady", req.GetName(), t0, aerr)
	}
	ready := e.m != nil && !g.s.draining.Load()
	return &inferencepb.ModelReadyResponse{Ready: ready}, g.done(ctx, "ModelReady", req.GetName(), t0, nil)
}

func (g *grpcService) ModelMetadata(ctx context.Context, req *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	t0 := time.Now()
	m, aerr := g.s.readyForMetadata(req.GetName())
	if aerr == nil {
		aerr = checkVersion(req.GetVersion())
	}
	if aerr != nil {
		return nil, g.done(ctx, "ModelMetadata", req.GetName(), t0, aerr)
	}
	md := metadata(req.GetName(), m.Info())
	tensors := func(ts []tensorMetadata) []*inferencepb.ModelMetadataResponse_TensorMetadata {
		out := make([]*inferencepb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &inferencepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &inferencepb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform,
		Inputs: tensors(md.Inputs), Outputs: tensors(md.Outputs)}, g.done(ctx, "ModelMetadata", req.GetName(), t0, nil)
}

// checkVersion: the models have no versions, so a request may name none.
func checkVersion(v string) *Error {
	if v != "" {
		return errorf(NotFound, "model version %q: the models here have no versions; give none", v)
	}
	return nil
}

func (g *grpcService) ModelInfer(ctx context.Context, pr *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	t0 := time.Now()
	name := pr.GetModelName()
	req, aerr := parseGRPCRequest(pr)
	if aerr == nil {
		aerr = checkVersion(pr.GetModelVersion())
	}
	if aerr != nil {
		return nil, g.done(ctx, "ModelInfer", name, t0, aerr)
	}
	res, aerr := g.s.infer(ctx, req)
	if aerr != nil {
		return nil, g.done(ctx, "ModelInfer", name, t0, aerr, slog.String("model", name))
	}
	return grpcResponse(res), g.done(ctx, "ModelInfer", name, t0, nil, slog.String("model", name),
		slog.Int("samples", res.n), slog.Int("max_iterations", maxInt(res.iterations)), slog.String("solver", res.solver))
}

// parseGRPCRequest reads an inference request: the input's values from
// its typed contents (fp32_contents, fp64_contents) or from
// raw_input_contents (little-endian).
func parseGRPCRequest(pr *inferencepb.ModelInferRequest) (*request, *Error) {
	name := pr.GetModelName()
	if len(pr.GetInputs()) != 1 {
		return nil, errorf(BadRequest, "%d input tensors; model %q takes one, x of shape [n, p]", len(pr.GetInputs()), name)
	}
	in := pr.GetInputs()[0]
	if len(in.GetParameters()) > 0 {
		return nil, errorf(BadRequest, "input %q: tensor parameters are not taken", in.GetName())
	}
	req := &request{model: name, id: pr.GetId(), input: in.GetName(), datatype: in.GetDatatype(), shape: in.GetShape(), params: map[string]param{}}
	for _, o := range pr.GetOutputs() {
		if len(o.GetParameters()) > 0 {
			return nil, errorf(BadRequest, "output %q: tensor parameters are not taken", o.GetName())
		}
		req.outputs = append(req.outputs, o.GetName())
	}
	for k, v := range pr.GetParameters() {
		var p param
		switch c := v.GetParameterChoice().(type) {
		case *inferencepb.InferParameter_StringParam:
			p.str = &c.StringParam
		case *inferencepb.InferParameter_Int64Param:
			f := float64(c.Int64Param)
			p.num, p.isInt = &f, true
		case *inferencepb.InferParameter_BoolParam:
			p.bool = &c.BoolParam
		default:
			return nil, errorf(BadRequest, "parameter %s has no value", k)
		}
		req.params[k] = p
	}
	if req.datatype != fp32 && req.datatype != fp64 {
		return nil, errorf(BadRequest, "input %q: datatype %q; want FP32 or FP64", req.input, req.datatype)
	}
	raw := pr.GetRawInputContents()
	c := in.GetContents()
	switch {
	case len(raw) > 0 && c != nil:
		return nil, errorf(BadRequest, "input %q: both contents and raw_input_contents; give one", req.input)
	case len(raw) > 1:
		return nil, errorf(BadRequest, "%d raw_input_contents for one input", len(raw))
	case len(raw) == 1:
		size := 8
		if req.datatype == fp32 {
			size = 4
		}
		b := raw[0]
		if len(b)%size != 0 {
			return nil, errorf(BadRequest, "input %q: raw_input_contents of %d bytes is not a whole number of %s values", req.input, len(b), req.datatype)
		}
		req.x = make([]float64, len(b)/size)
		for i := range req.x {
			if size == 4 {
				req.x[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
			} else {
				req.x[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			}
		}
	case req.datatype == fp32:
		if len(c.GetFp64Contents()) > 0 {
			return nil, errorf(BadRequest, "input %q: datatype FP32 with fp64_contents; want fp32_contents", req.input)
		}
		req.x = make([]float64, len(c.GetFp32Contents()))
		for i, v := range c.GetFp32Contents() {
			req.x[i] = float64(v)
		}
	default:
		if len(c.GetFp32Contents()) > 0 {
			return nil, errorf(BadRequest, "input %q: datatype FP64 with fp32_contents; want fp64_contents", req.input)
		}
		req.x = c.GetFp64Contents()
	}
	return req, nil
}

// grpcResponse is an inference's answer as typed contents: y in the
// input's datatype (non-finite values, of failed samples, as they are).
func grpcResponse(r *response) *inferencepb.ModelInferResponse {
	out := &inferencepb.ModelInferResponse{ModelName: r.model, Id: r.id,
		Parameters: map[string]*inferencepb.InferParameter{"solver": {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: r.solver}}}}
	n := int64(r.n)
	for _, name := range r.outputs {
		t := &inferencepb.ModelInferResponse_InferOutputTensor{Name: name, Contents: &inferencepb.InferTensorContents{}}
		switch name {
		case outputY:
			t.Datatype, t.Shape = r.datatype, []int64{n, int64(r.q)}
			if r.datatype == fp32 {
				t.Contents.Fp32Contents = make([]float32, len(r.y))
				for i, v := range r.y {
					t.Contents.Fp32Contents[i] = float32(v)
				}
			} else {
				t.Contents.Fp64Contents = r.y
			}
		case outputIterations:
			t.Datatype, t.Shape = "INT32", []int64{n}
			t.Contents.IntContents = make([]int32, r.n)
			for i, it := range r.iterations {
				t.Contents.IntContents[i] = int32(min(it, math.MaxInt32))
			}
		case outputStatus:
			t.Datatype, t.Shape = "BYTES", []int64{n}
			t.Contents.BytesContents = make([][]byte, r.n)
			for i, st := range r.status {
				t.Contents.BytesContents[i] = []byte(st.String())
			}
		}
		out.Outputs = append(out.Outputs, t)
	}
	return out
}
