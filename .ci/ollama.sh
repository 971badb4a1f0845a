#!/usr/bin/env bash
# Builds the Ollama server v0.17.4 (once, into a cache outside the work tree)
# for the reasoning package's integration tests, and prints the binary's path
# on the last line of stdout. Progress goes to stderr.
#
# Usage in CI:
#   IMPLICIT_OLLAMA_BIN="$(bash .ci/ollama.sh | tail -n1)"
#
# Ollama's Go module zip lacks llama.cpp's vendored single-header libraries
# (nlohmann/json, miniaudio, stb). The npm package node-llama-cpp ships the
# llama.cpp source as a git bundle whose vendor/ has them; we pass that folder
# to cgo with -I.
set -euo pipefail

OLLAMA_VERSION=v0.17.4
NODE_LLAMA_CPP_VERSION=3.22.1
CACHE="${IMPLICIT_OLLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/implicit/ollama-$OLLAMA_VERSION}"
BIN="$CACHE/bin/ollama"

log() { echo "ollama.sh: $*" >&2; }

# The binary is moved into place only after a successful build.
if [[ -x "$BIN" ]]; then
	echo "$BIN"
	exit 0
fi

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v g++ >/dev/null || need_apt+=(g++)
command -v git >/dev/null || need_apt+=(git)
command -v npm >/dev/null || need_apt+=(npm)
if ((${#need_apt[@]})); then
	log "installing ${need_apt[*]}"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}" >&2
fi
command -v go >/dev/null || { log "go not found on PATH"; exit 1; }

mkdir -p "$CACHE"
VENDOR="$CACHE/llama.cpp/vendor"
if [[ ! -f "$VENDOR/nlohmann/json.hpp" ]]; then
	NPM_DIR="$CACHE/npm"
	BUNDLE="$NPM_DIR/node_modules/node-llama-cpp/llama/gitRelease.bundle"
	if [[ ! -f "$BUNDLE" ]]; then
		log "fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION (for llama.cpp's vendor/)"
		mkdir -p "$NPM_DIR"
		# --ignore-scripts: we need only the bundle, not its native build.
		npm install --prefix "$NPM_DIR" --no-save --ignore-scripts --no-audit --no-fund \
			"node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
	fi
	log "extracting vendor/ from $BUNDLE"
	rm -rf "$CACHE/llama.cpp.tmp"
	git clone --quiet "$BUNDLE" "$CACHE/llama.cpp.tmp" >&2
	rm -rf "$CACHE/llama.cpp"
	mv "$CACHE/llama.cpp.tmp" "$CACHE/llama.cpp"
fi

log "building github.com/ollama/ollama@$OLLAMA_VERSION (several minutes on 2 cores)"
start=$(date +%s)
mkdir -p "$CACHE/bin.tmp"
# Build outside any module so the go.mod of the calling directory plays no part.
(
	cd "$CACHE"
	GOBIN="$CACHE/bin.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=1 \
		CGO_CPPFLAGS="-I$VENDOR" \
		CGO_CFLAGS="-O3 -march=native" \
		CGO_CXXFLAGS="-O3 -march=native" \
		go install "github.com/ollama/ollama@$OLLAMA_VERSION" >&2
)
mkdir -p "$CACHE/bin"
mv -f "$CACHE/bin.tmp/ollama" "$BIN"
rmdir "$CACHE/bin.tmp" 2>/dev/null || true
log "built $BIN in $(( $(date +%s) - start ))s"
echo "$BIN"
