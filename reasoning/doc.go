// Package reasoning iterates a language model to a fixed point.
//
// It treats a model as an operator on answers, a(t+1) = T(question, a(t)):
// round 1 answers the question, and each later round shows the model the
// question and its previous answer and asks it to verify and refine it.
// [Refine] iterates this with the care of a numerical fixed-point solver:
// answers are extracted reliably (structured output, with a fallback
// extractor), normalised, and compared; the loop stops at a fixed point, when
// successive answers are within a distance, on a cycle (resolved by a
// damping policy), or at a limit on rounds, tokens or time. [SelfConsistency]
// is the usual baseline: independent samples and a majority vote.
//
// A [Model] is anything that answers chat requests. The subpackages ollama
// and openai implement it for Ollama's native API and for any
// OpenAI-compatible server (llama.cpp's llama-server, vLLM, LM Studio,
// Ollama's /v1). Package chatserver serves the loop as an OpenAI-compatible
// chat completions API.
//
// Each [Result] carries the full trace, round by round.
package reasoning
