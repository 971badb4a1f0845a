#!/usr/bin/env bash
# Runs the module under Node's built-in WASI: the wrapper's tests.
set -euo pipefail
cd "$(dirname "$0")"
node --version
exec node --test --test-reporter=spec implicit.test.mjs
