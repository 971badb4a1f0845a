// Package chainmodel builds tiny llama-architecture GGUF models whose output
// is fixed in advance, for testing model servers with real inference.
//
// Attention and feed-forward weights are zero, so each layer passes its input
// through and the next token depends only on the current one: a one-hot
// embedding read by an output matrix that maps each token to its successor
// with a logit gap of about 100. The model thus follows fixed chains of
// tokens whatever the sampling settings. A chain starts at a trigger, a
// control token that a chat template puts at the end of the prompt.
package chainmodel

import (
	"fmt"
	"math"
	"strings"

	"github.com/implicitlab/implicit/reasoning/internal/gguf"
)

// Chain is what the model says after a prompt ending in Trigger: Pieces in
// order, one token each, then end of sequence, or, if Loop is set, Pieces
// again forever.
type Chain struct {
	Trigger string
	Pieces  []string
	Loop    bool
}

// Token ids fixed by the layout of the vocabulary.
const (
	unkID = 0
	bosID = 1
	eosID = 2
	// byteBase is the id of <0x00>; llama.cpp's SentencePiece tokenizer
	// falls back to the 256 byte tokens for text it has no token for.
	byteBase = 3
)

// SentencePiece token types.
const (
	typeNormal  int32 = 1
	typeUnknown int32 = 2
	typeControl int32 = 3
	typeByte    int32 = 6
)

// logitGap is the logit of a token's successor; every other logit is zero.
const logitGap = 100

// Build returns the GGUF model that follows chains. Every trigger and piece
// must be distinct: a llama.cpp vocabulary with two equal token texts aborts
// the process that loads it (the Ollama server).
func Build(chains []Chain) (*gguf.File, error) {
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{typeUnknown, typeControl, typeControl}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, typeByte)
	}
	ids := make(map[string]int)
	for i, t := range tokens {
		ids[t] = i
	}
	add := func(text string, typ int32) (int, error) {
		if text == "" {
			return 0, fmt.Errorf("chainmodel: empty token")
		}
		if _, dup := ids[text]; dup {
			return 0, fmt.Errorf("chainmodel: token %q appears twice", text)
		}
		ids[text] = len(tokens)
		tokens = append(tokens, text)
		types = append(types, typ)
		return ids[text], nil
	}

	// next maps a token to its successor; only tokens in chains have one.
	next := make(map[int]int)
	for _, c := range chains {
		if len(c.Pieces) == 0 {
			return nil, fmt.Errorf("chainmodel: chain %q has no pieces", c.Trigger)
		}
		prev, err := add(c.Trigger, typeControl)
		if err != nil {
			return nil, err
		}
		first := -1
		for _, p := range c.Pieces {
			// SentencePiece writes a space as U+2581 in its vocabulary.
			id, err := add(strings.ReplaceAll(p, " ", "\u2581"), typeNormal)
			if err != nil {
				return nil, err
			}
			if first < 0 {
				first = id
			}
			next[prev] = id
			prev = id
		}
		if c.Loop {
			next[prev] = first
		} else {
			next[prev] = eosID
		}
	}

	nVocab := len(tokens)
	// One embedding dimension per token with a successor; heads of 64.
	const headDim = 64
	nEmbd := max(headDim, (len(next)+headDim-1)/headDim*headDim)
	nHead := nEmbd / headDim
	const nFF = 64

	slot := make(map[int]int, len(next))
	for id := range nVocab {
		if _, ok := next[id]; ok {
			slot[id] = len(slot)
		}
	}
	embd := make([]float32, nEmbd*nVocab)
	out := make([]float32, nEmbd*nVocab)
	// RMS normalisation scales a one-hot vector by sqrt(nEmbd).
	w := float32(logitGap / math.Sqrt(float64(nEmbd)))
	for id, s := range slot {
		embd[id*nEmbd+s] = 1
		out[next[id]*nEmbd+s] = w
	}

	scores := make([]float32, nVocab)
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	zeros := func(n int) []float32 { return make([]float32, n) }
	u := func(n int) uint64 { return uint64(n) }

	f := &gguf.File{
		KV: []gguf.KV{
			{Key: "general.architecture", Value: "llama"},
			{Key: "general.name", Value: "chainmodel"},
			{Key: "general.file_type", Value: uint32(0)}, // all F32
			{Key: "llama.context_length", Value: uint32(2048)},
			{Key: "llama.embedding_length", Value: uint32(nEmbd)},
			{Key: "llama.block_count", Value: uint32(1)},
			{Key: "llama.feed_forward_length", Value: uint32(nFF)},
			{Key: "llama.attention.head_count", Value: uint32(nHead)},
			{Key: "llama.attention.head_count_kv", Value: uint32(nHead)},
			{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
			{Key: "llama.rope.dimension_count", Value: uint32(headDim)},
			{Key: "llama.vocab_size", Value: uint32(nVocab)},
			{Key: "tokenizer.ggml.model", Value: "llama"},
			{Key: "tokenizer.ggml.tokens", Value: tokens},
			{Key: "tokenizer.ggml.scores", Value: scores},
			{Key: "tokenizer.ggml.token_type", Value: types},
			{Key: "tokenizer.ggml.unknown_token_id", Value: uint32(unkID)},
			{Key: "tokenizer.ggml.bos_token_id", Value: uint32(bosID)},
			{Key: "tokenizer.ggml.eos_token_id", Value: uint32(eosID)},
			{Key: "tokenizer.ggml.add_bos_token", Value: true},
			{Key: "tokenizer.ggml.add_eos_token", Value: false},
			// Without this llama.cpp puts a space before the prompt.
			{Key: "tokenizer.ggml.add_space_prefix", Value: false},
		},
		Tensors: []gguf.Tensor{
			{Name: "token_embd.weight", Shape: []uint64{u(nEmbd), u(nVocab)}, Data: embd},
			{Name: "output_norm.weight", Shape: []uint64{u(nEmbd)}, Data: ones(nEmbd)},
			{Name: "output.weight", Shape: []uint64{u(nEmbd), u(nVocab)}, Data: out},
			{Name: "blk.0.attn_norm.weight", Shape: []uint64{u(nEmbd)}, Data: ones(nEmbd)},
			{Name: "blk.0.attn_q.weight", Shape: []uint64{u(nEmbd), u(nEmbd)}, Data: zeros(nEmbd * nEmbd)},
			{Name: "blk.0.attn_k.weight", Shape: []uint64{u(nEmbd), u(nEmbd)}, Data: zeros(nEmbd * nEmbd)},
			{Name: "blk.0.attn_v.weight", Shape: []uint64{u(nEmbd), u(nEmbd)}, Data: zeros(nEmbd * nEmbd)},
			{Name: "blk.0.attn_output.weight", Shape: []uint64{u(nEmbd), u(nEmbd)}, Data: zeros(nEmbd * nEmbd)},
			{Name: "blk.0.ffn_norm.weight", Shape: []uint64{u(nEmbd)}, Data: ones(nEmbd)},
			{Name: "blk.0.ffn_gate.weight", Shape: []uint64{u(nEmbd), u(nFF)}, Data: zeros(nEmbd * nFF)},
			{Name: "blk.0.ffn_up.weight", Shape: []uint64{u(nEmbd), u(nFF)}, Data: zeros(nEmbd * nFF)},
			{Name: "blk.0.ffn_down.weight", Shape: []uint64{u(nFF), u(nEmbd)}, Data: zeros(nFF * nEmbd)},
		},
	}
	return f, nil
}
