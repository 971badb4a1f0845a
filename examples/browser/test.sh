#!/usr/bin/env bash
# Browser test: installs Debian's chromium (if missing) and the npm packages,
# then has headless Chromium draw digits on the page (test.mjs) and watch a
# photograph deblur (test-deblur.mjs).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
if ! [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
node test.mjs
exec node test-deblur.mjs
