#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Dataset import benchmark: generates chat examples (with 1% exact duplicates, 1% near-duplicates
# and 1% emails) and times `tailor-cli data import` on them — import, secrets scan,
# near-deduplication, split and leak check — reporting wall time and peak memory (and checking
# that the import spool is gone afterwards). Not part of the test suite.
#
#   benchmarks/bench-data.sh [TAILOR_CLI] [SIZE]
#
# SIZE is 100k (the default: 100,000 examples with 120-word answers, about 115 MB of JSONL; the
# target on a 2-core machine is under 60 s and under 1 GiB), 1gib (250,000 examples with
# 520-word answers, about 1 GiB: memory must not grow with the bytes, only with the number of
# examples), or "N WORDS" for N examples with WORDS-word answers.
# TAILOR_CLI defaults to $TAILOR_CLI, then build/src/cli/tailor-cli. TMPDIR chooses where the
# input, the catalogue and the spool go (they need about four times the input's size).
set -eu

cli=${1:-${TAILOR_CLI:-build/src/cli/tailor-cli}}
size=${2:-100k}
case "$size" in
  100k) n=100000 words=120 ;;
  1gib) n=250000 words=520 ;;
  *) n=$size words=${3:-120} ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/tailor-bench-data-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

awk -v n="$n" -v words="$words" 'BEGIN {
  srand (42);
  split ("ka to ri mu se lo na pe di gu ba ve zo chi ra fu mi te so qua", syl, " ");
  for (i = 0; i < 4000; i++)
    word[i] = syl[int (rand () * 20) + 1] syl[int (rand () * 20) + 1] syl[int (rand () * 20) + 1];
  for (i = 1; i <= n; i++) {
    q = "";
    for (w = 0; w < 30; w++) q = q (w ? " " : "") word[int (rand () * 4000)];
    a = "";
    for (w = 0; w < words; w++) a = a (w ? " " : "") word[int (rand () * 4000)];
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
echo "stored examples: $(du -sm "$work/catalogue/examples" | cut -f1) MB"
if [ -n "$(ls -A "$work/catalogue/tmp" 2>/dev/null)" ]; then
  echo "the import spool was left behind in $work/catalogue/tmp" >&2
  exit 1
fi
