#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs a GTK test program on a virtual X server inside its own D-Bus session; exit 77 (skipped)
# only when xvfb-run is not installed.
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "1..0 # SKIP xvfb-run is not installed"
  exit 77
fi
# The session's daemons talk on stdout; only the test may write the TAP stream (fd 4 keeps it).
exec xvfb-run -a -s '-screen 0 1280x900x24' dbus-run-session -- /bin/sh -c 'exec "$@" >&4 4>&-' sh "$@" 4>&1 >&2
