#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Fails unless a translation compiles cleanly (msgfmt --check: format strings, headers) and
# translates every message of the current template, with nothing left fuzzy.
import re
import subprocess
import sys

msgfmt, po = sys.argv[1], sys.argv[2]
result = subprocess.run([msgfmt, '--check', '--statistics', '-o', '/dev/null', po],
                        capture_output=True, text=True)
report = (result.stdout + result.stderr).strip()
print(report)
if result.returncode != 0:
    sys.exit(1)
untranslated = re.search(r'(\d+) untranslated', report)
fuzzy = re.search(r'(\d+) fuzzy', report)
if untranslated or fuzzy:
    print(f'{po}: every message must be translated and none fuzzy; update it with '
          '`ninja tailor-update-po` and translate the new messages', file=sys.stderr)
    sys.exit(1)
