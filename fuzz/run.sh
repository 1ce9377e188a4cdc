#!/usr/bin/env bash
# Seeds the corpora from the example policies and runs a fuzz target for a
# bounded time.
#
#   fuzz/run.sh parse 300      # target, seconds (default 300)
#   fuzz/run.sh check 300
#
# Extra arguments after the seconds go to libFuzzer (e.g. -jobs=2).
# Crashes land in fuzz/artifacts/<target>/; copy the minimized ones into
# fuzz/regressions/ (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-parse}
seconds=${2:-300}
shift $(( $# > 2 ? 2 : $# ))

corpus=fuzz/corpus/$target
mkdir -p "$corpus"
for policy in examples/*/policy.mailc examples/*/*.mailc; do
    [ -f "$policy" ] || continue
    name=$(echo "$policy" | tr '/' '_')
    cp "$policy" "$corpus/seed_$name"
done
# Past crashes stay in the corpus, so a fixed bug that comes back is
# found at once.
for f in fuzz/regressions/*; do
    [ -f "$f" ] && cp "$f" "$corpus/regression_$(basename "$f")"
done

# A libFuzzer dictionary of the grammar's literals (keywords, punctuation,
# units), made from policy.pest so that it follows the grammar.
dict=fuzz/corpus/policy.dict
grep -o '"[^"\\]*"' lang/src/policy.pest | grep -x '"[^ ~|"]\+"' | sort -u > "$dict"

toolchain=${FUZZ_TOOLCHAIN:-nightly}
exec cargo "+$toolchain" fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -dict="$dict" "$@"
