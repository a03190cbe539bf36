#!/usr/bin/env bash
# `npm run test:webkit [-- vitest args]`: the browser suite in WebKitGTK (Debian's MiniBrowser,
# driven by its WebKitWebDriver through @vitest/browser-webdriverio). MiniBrowser needs a display:
# without one this script re-runs itself under xvfb-run. WebKitWebDriver starts inside the
# display (MiniBrowser inherits its DISPLAY) on a free port and stops when the run ends.
# Needs: apt-get install webkit2gtk-driver xvfb.
set -u
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ]; then exec xvfb-run -a bash "$0" "$@"; fi
command -v WebKitWebDriver >/dev/null || { echo "No WebKitWebDriver: apt-get install webkit2gtk-driver xvfb" >&2; exit 1; }
PORT=${WEBKIT_DRIVER_PORT:-$(node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})")}
LOG=${TMPDIR:-/tmp}/webkitwebdriver-$PORT.log
WebKitWebDriver --port="$PORT" > "$LOG" 2>&1 &
driver=$!
trap 'kill "$driver" 2>/dev/null; wait "$driver" 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/status" > /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/status" > /dev/null || { echo "WebKitWebDriver did not start (log: $LOG)" >&2; exit 1; }
ENGINES=webkit REPORT_NAME=${REPORT_NAME:-webkit} WEBKIT_DRIVER_PORT=$PORT node_modules/.bin/vitest run "$@"
