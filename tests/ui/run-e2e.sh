#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the accessibility-tree end-to-end test on its own virtual X server and D-Bus session.
# Exit 77 (skipped) only when Xvfb, dbus-run-session or the AT-SPI Python bindings are missing.
# Usage: run-e2e.sh TAILOR TAILOR-CLI SCHEMA-DIR [SHADER-CACHE-DIR]
python=/usr/bin/python3
for tool in Xvfb dbus-run-session; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "1..0 # SKIP $tool is not installed"
    exit 77
  fi
done
if ! "$python" -c "import gi; gi.require_version('Atspi', '2.0'); from gi.repository import Atspi" \
     >/dev/null 2>&1; then
  echo "1..0 # SKIP the AT-SPI Python bindings (python3-pyatspi) are not installed"
  exit 77
fi

# Xvfb picks a free display itself and writes its number: no race with other X servers starting
# at the same time, which xvfb-run -a has. -noreset: without it the server resets when its first
# clients leave, and the app started a moment later failed with "cannot open display".
fifo_dir=$(mktemp -d)
trap 'kill "$xvfb" 2>/dev/null; rm -rf "$fifo_dir"' EXIT INT TERM
mkfifo "$fifo_dir/display"
Xvfb -displayfd 3 -screen 0 1280x900x24 -nolisten tcp -noreset \
  3>"$fifo_dir/display" >"$fifo_dir/xvfb.log" 2>&1 &
xvfb=$!
read -r display <"$fifo_dir/display"
if [ -z "$display" ]; then
  echo "Bail out! Xvfb did not start"
  exit 1
fi
# The session's daemons inherit dbus-run-session's stdout, and the AT-SPI registry writes
# "SpiRegistry daemon is running…" there: they get stderr, and only the test writes to the TAP
# stream, through a copy of the original stdout on fd 4.
DISPLAY=":$display" dbus-run-session -- /bin/sh -c 'exec "$@" >&4 4>&-' sh \
  "$python" "$(dirname "$0")/e2e.py" "$@" 4>&1 >&2
status=$?
if [ "$status" -ne 0 ]; then
  echo "# Xvfb said:"
  sed "s/^/# /" "$fifo_dir/xvfb.log"
fi
exit "$status"
