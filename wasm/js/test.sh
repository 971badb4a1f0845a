#!/usr/bin/env bash
# Runs the module under Node's built-in WASI: the wrapper's tests, then the
# npm package's (package.test.mjs: npm pack, install in a scratch project,
# use it by name; IMPLICIT_TS=DIR, a directory with typescript and
# @types/node installed, adds the type check).
set -euo pipefail
cd "$(dirname "$0")"
node --version
npm --version
exec node --test --test-concurrency=1 --test-reporter=spec implicit.test.mjs package.test.mjs
