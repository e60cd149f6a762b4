#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Dataset import benchmark: generates N chat examples (default 100,000, about 100 MB of JSONL,
# with 1% exact duplicates, 1% near-duplicates and 1% emails) and times `tailor-cli data import`
# on them — import, secrets scan, near-deduplication, split and leak check — reporting wall time
# and peak memory. Targets on a 2-core machine: under 60 s, under 1 GiB.
#
#   benchmarks/bench-data.sh [TAILOR_CLI] [N]
#
# TAILOR_CLI defaults to $TAILOR_CLI, then build/src/cli/tailor-cli. Not part of the test suite.
set -eu

cli=${1:-${TAILOR_CLI:-build/src/cli/tailor-cli}}
n=${2:-100000}
work=$(mktemp -d "${TMPDIR:-/tmp}/tailor-bench-data-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

awk -v n="$n" 'BEGIN {
  srand (42);
  split ("ka to ri mu se lo na pe di gu ba ve zo chi ra fu mi te so qua", syl, " ");
  for (i = 0; i < 4000; i++)
    word[i] = syl[int (rand () * 20) + 1] syl[int (rand () * 20) + 1] syl[int (rand () * 20) + 1];
  for (i = 1; i <= n; i++) {
    q = "";
    for (w = 0; w < 30; w++) q = q (w ? " " : "") word[int (rand () * 4000)];
    a = "";
    for (w = 0; w < 120; w++) a = a (w ? " " : "") word[int (rand () * 4000)];
    if (i % 100 == 50) a = a " write to user" i "@example.org";
    line = "{\"messages\":[{\"role\":\"user\",\"content\":\"" q "?\"},"
    line = line "{\"role\":\"assistant\",\"content\":\"" a ".\"}]}";
    print line;
    if (i % 100 == 10) print line;
    if (i % 100 == 20) { sub (/ [a-z]+\.\"}\]}$/, " changed.\"}]}", line); print line; }
  }
}' > "$work/bench.jsonl"

echo "input: $(wc -l < "$work/bench.jsonl") lines, $(du -m "$work/bench.jsonl" | cut -f1) MB"
TAILOR_DATA_DIR="$work/catalogue" /usr/bin/time -v "$cli" data import bench "$work/bench.jsonl" \
  > "$work/out" 2> "$work/time" || { cat "$work/time"; exit 1; }
cat "$work/out"
grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" "$work/time"
