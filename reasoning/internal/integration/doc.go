// Package integration tests the reasoning loop and both backends against a
// real Ollama server running tiny deterministic models (see chainmodel).
//
// The tests check the plumbing (structured output, thinking, thinking with
// structured output, streaming, token limits, usage counts, cancellation,
// errors) against real inference; they say nothing about reasoning quality,
// which needs a real model.
// Without IMPLICIT_OLLAMA_BIN they skip, unless IMPLICIT_REQUIRE_OLLAMA=1.
package integration
