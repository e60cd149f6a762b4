#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the GGUF reader fuzzer with clang (libFuzzer, ASan, UBSan) and runs it over a seed
# corpus made by our writer.
# Usage: run-fuzz.sh SOURCE_ROOT BUILD_ROOT SECONDS MAKE_CORPUS [extra libFuzzer options]
# Exit 77 (skipped) when SECONDS is 0 or clang/libFuzzer is missing.
set -eu

src=$1
build=$2
seconds=$3
make_corpus=$4
shift 4

if [ "$seconds" -eq 0 ]; then
  echo "fuzz_seconds is 0: the fuzzer is skipped"
  exit 77
fi

cc=${CLANG:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "$cc not found: install clang and libclang-rt-14-dev (Debian 12) to run the GGUF fuzzer"
  exit 77
fi

out=$build/fuzz
mkdir -p "$out"

probe=$out/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput (const uint8_t *d, size_t n);' \
  'int LLVMFuzzerTestOneInput (const uint8_t *d, size_t n) { return 0; }' > "$probe"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" >"$out/probe.log" 2>&1; then
  echo "$cc cannot build a libFuzzer target (see $out/probe.log): install libclang-rt-14-dev"
  exit 77
fi

# shellcheck disable=SC2046 # pkg-config prints several words on purpose
"$cc" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1 \
  -I"$src/src/engine" -I"$build" $(pkg-config --cflags glib-2.0 gio-2.0) \
  "$src/src/engine/tailor-gguf.c" "$src/src/engine/tailor-quant.c" \
  "$src/tests/fuzz/fuzz-gguf.c" \
  -o "$out/fuzz-gguf" $(pkg-config --libs glib-2.0 gio-2.0) -lm

rm -rf "$out/seeds"
"$make_corpus" "$out/seeds"
# New inputs go to corpus/, which is kept between runs so that later runs start further on.
mkdir -p "$out/corpus"

echo "fuzzing the GGUF reader for $seconds s (crashes are saved in $out/)"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$out/fuzz-gguf" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$out/" "$@" "$out/corpus" "$out/seeds"
