#!/usr/bin/env bash
# Front-end benchmark: `mailc check` of a policy whose virtual alias table is
# a 1,000,000-entry Postfix-syntax file (cycle detection on) against
# `postmap lmdb:` building the same file, side by side in one run.
# Target: median mailc time / median postmap time <= 1.0.
#
#   bench/check-vs-postmap.sh
#
# Environment:
#   N=1000000   entries in the generated table
#   ROUNDS=3    alternating rounds (1..20)
#   MAILC=path  use this mailc binary instead of `cargo build --release`
#   KEEP=1      keep the work directory (printed) afterwards
#   TMPDIR      where the work directory is made
#
# Prints a table and PASS/FAIL against the target; exits 0 whatever the
# verdict, and non-zero only when the benchmark itself cannot run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-1000000}
ROUNDS=${ROUNDS:-3}
MAILC=${MAILC:-}
KEEP=${KEEP:-0}
[[ $N =~ ^[1-9][0-9]{0,7}$ ]] || { echo "$0: N must be 1..99999999" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9]$|^1[0-9]$|^20$ ]] || { echo "$0: ROUNDS must be 1..20" >&2; exit 2; }

# --- tools -------------------------------------------------------------------
"$root/bench/postfix/install.sh"
if [[ ! -x /usr/bin/time ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null
  else
    echo "$0: /usr/bin/time is missing (apt-get install time)" >&2
    exit 1
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mailc-check-vs-postmap.XXXXXX")
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ $KEEP == 1 ]]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# postmap needs a main.cf; Debian's "No configuration" install has none.
mkdir "$work/postfix-etc"
echo "compatibility_level = 3.6" >"$work/postfix-etc/main.cf"
: >"$work/postfix-etc/master.cf"
postfix_version=$(postconf -c "$work/postfix-etc" -h mail_version)

excerpt() { # FILE: its first 2000 bytes, or "(no output)"
  if [[ -s $1 ]]; then head -c 2000 "$1"; else echo "(no output)"; fi
}

# --- mailc ---------------------------------------------------------------------
mailc_error=
if [[ -n $MAILC ]]; then
  mailc=$MAILC
  [[ -x $mailc ]] || mailc_error="MAILC=$mailc is not an executable"
else
  mailc=${CARGO_TARGET_DIR:-$root/target}/release/mailc
  echo "== cargo build --release (log: $work/build.log)"
  if ! (cd "$root" && cargo build --release) >"$work/build.log" 2>&1; then
    mailc_error="cargo build --release failed:"$'\n'"$(tail -n 30 "$work/build.log")"
  elif [[ ! -x $mailc ]]; then
    mailc_error="cargo build --release made no $mailc"
  fi
fi

# --- inputs ----------------------------------------------------------------------
write_policy() { # DIR: the benchmark policy, exactly as specified
  cat >"$1/bench.mailc" <<'POLICY'
hostname "bench.example.test"
trusted_networks trusted
network trusted = [127.0.0.1/32]
domains local : local = ["example.test"]
domains virtual_domains : virtual_alias = file "virtual-domains"
table virtual : address -> [address] = postfix "virtual"
transport mailbox = maildir "{state}/mail/{local}/"
recipient {
  domain virtual_domains => expand virtual else reject 550 5.1.1 "unknown user"
  domain local => deliver mailbox
  default => reject 554 5.7.1 "relay access denied"
}
on rcpt {
  accept if client in trusted
  reject 554 5.7.1 "relay access denied" if not recipient.final
  default accept
}
POLICY
  seq -f 'd%.0f.test' 0 999 >"$1/virtual-domains"
}

echo "== generating $N entries"
mkdir "$work/bench"
python3 "$root/bench/gen-virtual.py" "$N" "$work/bench/virtual"
write_policy "$work/bench"
size_mib=$(du -m "$work/bench/virtual" | cut -f1)

# Control: the same policy over a two-entry table with a cycle. A mailc
# whose check really expands the table must reject it (non-zero exit, or a
# message naming the cycle); one that does not is not measuring anything.
mkdir "$work/control"
write_policy "$work/control"
printf 'a@d0.test\tb@d0.test\nb@d0.test\ta@d0.test\n' >"$work/control/virtual"
if [[ -z $mailc_error ]]; then
  set +e
  (cd "$work/control" && "$mailc" check bench.mailc) >"$work/control.out" 2>&1
  rc=$?
  set -e
  if [[ $rc -eq 0 ]] && ! grep -qiE 'cycle|loop' "$work/control.out"; then
    mailc_error="mailc check accepted a table with a cycle (a@d0.test -> b@d0.test -> a@d0.test): cycle detection does not run; output:"$'\n'"$(excerpt "$work/control.out")"
  elif [[ $rc -ge 126 ]]; then
    mailc_error="mailc check could not run (exit $rc):"$'\n'"$(excerpt "$work/control.out")"
  fi
fi

# --- rounds ---------------------------------------------------------------------
# Each run's wall seconds and peak RSS (KiB) from /usr/bin/time; the last
# line of its -o file is ours (a line before it reports a non-zero exit).
timed() { # OUTFILE CMD...: runs CMD, sets t_wall t_rss, returns CMD's status
  local out=$1 rc=0
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$out" 2>&1 || rc=$?
  read -r t_wall t_rss < <(tail -n 1 "$work/time")
  return "$rc"
}

run_postmap() { # ROUND
  rm -rf "$work/pm"
  mkdir "$work/pm"
  cp "$work/bench/virtual" "$work/pm/virtual"
  if ! timed "$work/postmap.out" postmap -c "$work/postfix-etc" "lmdb:$work/pm/virtual"; then
    echo "$0: postmap failed in round $1:" >&2
    cat "$work/postmap.out" >&2
    exit 1
  fi
  # untimed: the map really holds the table
  if [[ -z $(postmap -c "$work/postfix-etc" -q "user0@d0.test" "lmdb:$work/pm/virtual") ]]; then
    echo "$0: postmap built a map without user0@d0.test" >&2
    exit 1
  fi
  pm_wall+=("$t_wall")
  pm_rss+=("$t_rss")
}

run_mailc() { # ROUND
  if [[ -n $mailc_error ]]; then
    mc_wall+=("-")
    mc_rss+=("-")
    return
  fi
  local rc=0
  (cd "$work/bench" && timed "$work/mailc.out" "$mailc" check bench.mailc) || rc=$?
  if [[ $rc -ne 0 ]]; then
    mailc_error="mailc check bench.mailc failed in round $1 (exit $rc):"$'\n'"$(excerpt "$work/mailc.out")"
    mc_wall+=("-")
    mc_rss+=("-")
    return
  fi
  read -r t_wall t_rss < <(tail -n 1 "$work/time")
  mc_wall+=("$t_wall")
  mc_rss+=("$t_rss")
}

pm_wall=() pm_rss=() mc_wall=() mc_rss=()
for r in $(seq 1 "$ROUNDS"); do
  # alternate which goes first, so neither always runs on a warmer machine
  if (( r % 2 == 1 )); then
    echo "== round $r/$ROUNDS: postmap, then mailc check"
    run_postmap "$r"
    run_mailc "$r"
  else
    echo "== round $r/$ROUNDS: mailc check, then postmap"
    run_mailc "$r"
    run_postmap "$r"
  fi
done

# --- report ---------------------------------------------------------------------
median() { # numbers on stdin, "-" lines skipped; prints "-" if none
  { grep -v '^-$' || true; } | sort -g | awk '{ a[NR] = $1 }
    END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
          else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
mib() { # KiB -> MiB, "-" stays
  if [[ $1 == - ]]; then echo -; else awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; fi
}

pm_med=$(printf '%s\n' "${pm_wall[@]}" | median)
pm_rss_med=$(printf '%s\n' "${pm_rss[@]}" | median)
mc_med=$(printf '%s\n' "${mc_wall[@]}" | median)
mc_rss_med=$(printf '%s\n' "${mc_rss[@]}" | median)

echo
echo "check-vs-postmap: $(date -u +%Y-%m-%d) on $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
echo "  $N entries ($size_mib MiB), Postfix $postfix_version postmap lmdb:, mailc $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
printf '%-8s %12s %12s %12s %12s\n' round "postmap s" "postmap MiB" "mailc s" "mailc MiB"
for i in "${!pm_wall[@]}"; do
  printf '%-8s %12s %12s %12s %12s\n' "$((i + 1))" "${pm_wall[$i]}" "$(mib "${pm_rss[$i]}")" \
    "${mc_wall[$i]}" "$(mib "${mc_rss[$i]}")"
done
printf '%-8s %12s %12s %12s %12s\n' median "$pm_med" "$(mib "$pm_rss_med")" "$mc_med" "$(mib "$mc_rss_med")"

if [[ -n $mailc_error ]]; then
  echo
  echo "mailc: NOT MEASURED: $mailc_error"
  echo "FAIL: mailc check did not run; postmap median ${pm_med} s"
elif awk -v m="$mc_med" -v p="$pm_med" 'BEGIN { exit !(m <= p) }'; then
  echo "ratio mailc/postmap (median wall): $(awk -v m="$mc_med" -v p="$pm_med" 'BEGIN { printf "%.2f", m / p }')"
  echo "PASS: target ratio <= 1.0"
else
  echo "ratio mailc/postmap (median wall): $(awk -v m="$mc_med" -v p="$pm_med" 'BEGIN { printf "%.2f", m / p }')"
  echo "FAIL: target ratio <= 1.0"
fi
exit 0
