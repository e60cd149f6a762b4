#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Fails when a source file with translatable strings is missing from POTFILES.in, or when
# POTFILES.in names a file that does not exist.
import os
import re
import sys

root = sys.argv[1]
potfiles = os.path.join(root, 'po', 'POTFILES.in')

C_MARK = re.compile(r'(^|[^A-Za-z0-9_])(N?C?_|ngettext|g_dngettext|g_dpgettext2?)\s*\(\s*"', re.M)
UI_MARK = re.compile(r'translatable="yes"')
XML_MARK = re.compile(r'gettext-domain=|<summary>|<name>')

listed = set()
with open(potfiles, encoding='utf-8') as f:
    for line in f:
        line = line.strip()
        if line and not line.startswith('#'):
            listed.add(line)

failures = []
for path in sorted(listed):
    if not os.path.isfile(os.path.join(root, path)):
        failures.append(f'po/POTFILES.in lists {path}, which does not exist: remove the line')

for top in ('src', 'data'):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.endswith(('.c', '.h')):
                mark = C_MARK
            elif name.endswith('.ui'):
                mark = UI_MARK
            elif name.endswith(('.desktop.in', '.metainfo.xml.in', '.gschema.xml')):
                mark = XML_MARK
            else:
                continue
            with open(path, encoding='utf-8', errors='replace') as f:
                text = f.read()
            if mark.search(text) and rel not in listed:
                failures.append(f'{rel} has translatable strings but is not in po/POTFILES.in: '
                                'add it there')

for failure in failures:
    print(failure, file=sys.stderr)
print(f'{len(listed)} files listed, {len(failures)} problems')
sys.exit(1 if failures else 0)
