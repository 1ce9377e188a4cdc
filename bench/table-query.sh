#!/usr/bin/env bash
# `mailc table query` of 100,000 keys against `postmap -q - cdb:`, side by
# side on the same 1,000,000-entry table (bench/gen-virtual.py), with the
# answers compared. Target (issue 4): mailc at least 2x faster.
#
#   bench/table-query.sh            (as root: installs Postfix if needed)
#
# Environment: N (entries, default 1000000), KEYS (default 100000),
# ROUNDS (alternating rounds, default 3), MAILC (binary; default: build).
# Prints a table and PASS/FAIL; exits 0 whatever the verdict.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-1000000}
KEYS=${KEYS:-100000}
ROUNDS=${ROUNDS:-3}
[[ $N =~ ^[1-9][0-9]{0,7}$ && $KEYS =~ ^[1-9][0-9]{0,6}$ && $ROUNDS =~ ^[1-9]$ ]] || {
  echo "$0: N, KEYS or ROUNDS out of range" >&2
  exit 2
}

"$root/bench/postfix/install.sh"
mailc=${MAILC:-}
if [[ -z $mailc ]]; then
  (cd "$root" && cargo build --release >/dev/null 2>&1)
  mailc=${CARGO_TARGET_DIR:-$root/target}/release/mailc
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mailc-table-query.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/etc"
echo "compatibility_level = 3.6" >"$work/etc/main.cf"
: >"$work/etc/master.cf"

python3 "$root/bench/gen-virtual.py" "$N" "$work/virtual" >/dev/null
# Every 10th key of the table, and one in ten keys that are not in it.
awk -v keys="$KEYS" 'NF >= 2 && $1 !~ /^#/ && $1 !~ /^@/ && NR % 10 == 0 { print $1; if (++n >= keys * 9 / 10) exit }' \
  "$work/virtual" >"$work/keys"
for ((i = 0; i < KEYS / 10; i++)); do echo "missing$i@d$((i % 1000)).test"; done >>"$work/keys"
echo "== building: postmap cdb:, mailc table build"
postmap -c "$work/etc" "cdb:$work/virtual"
"$mailc" table build "$work/virtual" -o "$work/virtual.mca" >/dev/null

timed() { # OUT CMD...: wall seconds of CMD into $t
  local out=$1 start end
  shift
  start=$(date +%s.%N)
  "$@" <"$work/keys" >"$out" || true
  end=$(date +%s.%N)
  t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
}

pm=() mc=()
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    timed "$work/pm.out" postmap -c "$work/etc" -q - "cdb:$work/virtual"; pm+=("$t")
    timed "$work/mc.out" "$mailc" table query "$work/virtual.mca" -; mc+=("$t")
  else
    timed "$work/mc.out" "$mailc" table query "$work/virtual.mca" -; mc+=("$t")
    timed "$work/pm.out" postmap -c "$work/etc" -q - "cdb:$work/virtual"; pm+=("$t")
  fi
done

# Same answers: the same keys found, the same values once list
# separators are written one way (postmap prints values as written).
norm() { sed -E 's/[[:space:]]*,[[:space:]]*|[[:space:]]+/ /g; s/\t/ /' "$1" | sort; }
if diff <(norm "$work/pm.out") <(norm "$work/mc.out") >/dev/null; then
  same="yes ($(wc -l <"$work/mc.out") keys found of $(wc -l <"$work/keys"))"
else
  same="NO: $(diff <(norm "$work/pm.out") <(norm "$work/mc.out") | head -5 | tr '\n' ' ')"
fi

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
pmm=$(median "${pm[@]}")
mcm=$(median "${mc[@]}")
echo
echo "table-query: $(date -u +%Y-%m-%d), $(nproc) cores, $N entries, $(wc -l <"$work/keys") keys"
echo "  postmap -q - cdb:   rounds ${pm[*]}  median $pmm s"
echo "  mailc table query - rounds ${mc[*]}  median $mcm s"
echo "  same answers: $same"
ratio=$(awk -v p="$pmm" -v m="$mcm" 'BEGIN { printf "%.2f", p / m }')
echo "  speed-up postmap/mailc: ${ratio}x"
if awk -v r="$ratio" 'BEGIN { exit !(r >= 2) }' && [[ $same == yes* ]]; then echo "PASS: target >= 2x"; else echo "FAIL: target >= 2x"; fi
