#!/usr/bin/env bash
# Verify the benchmark Postfix instance set up by bench/postfix/setup.sh DIR:
# starts it, checks the reference routing over SMTP on 127.0.0.1:2525 with a
# smtp-sink on 127.0.0.1:2526 standing in for relay.test, then stops both.
#
#   bench/postfix/verify.sh DIR
#
# Exits 0 when every check passes. Needs root, python3, and nothing else
# listening on 127.0.0.1:2525/2526.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR   (after bench/postfix/setup.sh DIR)" >&2
  exit 2
fi
dir=$(cd "$1" && pwd)
etc=$dir/etc
[[ -f $etc/main.cf ]] || { echo "$0: $etc/main.cf missing: run setup.sh $dir first" >&2; exit 2; }

sink_pid=
sink_log=$(mktemp)
started=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ $started -eq 1 ]]; then
    postfix -c "$etc" stop >/dev/null 2>&1 || true
  fi
  if [[ -n $sink_pid ]]; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
  fi
  rm -f "$sink_log"
}
trap cleanup EXIT

port_busy() {
  # true when something accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if postfix -c "$etc" status >/dev/null 2>&1; then
  echo "$0: the instance in $etc is already running; stop it first" >&2
  exit 1
fi
for p in 2525 2526; do
  if port_busy "$p"; then
    echo "$0: 127.0.0.1:$p is already in use" >&2
    exit 1
  fi
done

# Only what this run logs and delivers counts.
log=$dir/log/maillog
log_start=0
[[ -f $log ]] && log_start=$(wc -l <"$log")
mbox=$dir/mail/alice
mbox_count() { local c; c=$(grep -c "^From bob@remote.test " "$mbox" 2>/dev/null) || true; echo "${c:-0}"; }
mbox_start=$(mbox_count)

# smtp-sink: -u runs it as the postfix user; -c counts; backlog 100.
smtp-sink -u postfix -c 127.0.0.1:2526 100 >"$sink_log" 2>&1 &
sink_pid=$!

started=1
if ! postfix -c "$etc" start; then
  echo "FAIL: postfix -c $etc start failed; end of $log:" >&2
  tail -n 5 "$log" >&2 || true
  exit 1
fi
for _ in $(seq 1 50); do          # up to 5 s for smtpd to listen
  port_busy 2525 && break
  sleep 0.1
done
port_busy 2526 || { echo "FAIL: smtp-sink did not start: $(cat "$sink_log")" >&2; exit 1; }

fails=0
python3 - <<'PY' || fails=1
import smtplib, sys

failed = 0

def session(src="127.0.0.1"):
    s = smtplib.SMTP("127.0.0.1", 2525, timeout=10, source_address=(src, 0))
    s.ehlo("client.test")
    return s

def check(what, got, want_code, want_text=""):
    global failed
    code, msg = got
    msg = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
    ok = code == want_code and want_text in msg
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {code} {msg}")
    if not ok:
        failed += 1

s = session()
banner_ok = s.ehlo_resp is not None
check("MAIL FROM bob@remote.test", s.mail("bob@remote.test"), 250)
for rcpt, code, text in [
    ("alice@example.test", 250, ""),
    ("Alice+tag@Example.TEST", 250, ""),
    ("postmaster@example.test", 250, ""),
    ("abuse@example.test", 250, ""),
    ("root@example.test", 250, ""),
    ("nobody@example.test", 550, "5.1.1"),
    ("someone@elsewhere.test", 554, "5.7.1"),
    ("someone@sub.relay.test", 554, "5.7.1"),
    ("info@virt.test", 250, ""),
    ("null@virt.test", 250, ""),
    ("nobody@virt.test", 550, "5.1.1"),
    ("x@relay.test", 250, ""),
    ("x@discard.test", 250, ""),
]:
    check(f"RCPT {rcpt} from 127.0.0.1", s.rcpt(rcpt), code, text)
s.quit()

# 127.0.0.2 is in mynetworks, but the reference policy routes nothing outside
# its four domains for anyone.
s = session("127.0.0.2")
s.mail("bob@remote.test")
check("RCPT someone@elsewhere.test from 127.0.0.2", s.rcpt("someone@elsewhere.test"), 554, "5.7.1")
s.quit()

# Messages: one through the virtual alias to the sink and to alice's mbox,
# one straight to the sink, one discarded.
msg = "From: bob@remote.test\r\nSubject: verify\r\n\r\nhello\r\n"
for rcpts in (["sink@relay.test"], ["info@virt.test"], ["null@virt.test"], ["postmaster@example.test"]):
    s = session()
    try:
        refused = s.sendmail("bob@remote.test", rcpts, msg)
        check(f"DATA to {rcpts}", (250, f"refused={refused}".encode()), 250, "refused={}")
    except smtplib.SMTPException as e:
        check(f"DATA to {rcpts}", (0, str(e).encode()), 250)
    s.quit()

sys.exit(1 if failed else 0)
PY

# The queue must drain: the sink takes relay.test mail, alice's mbox the rest.
drained=0
for _ in $(seq 1 30); do          # up to 15 s
  if postqueue -c "$etc" -p | grep -q '^Mail queue is empty'; then
    drained=1
    break
  fi
  postqueue -c "$etc" -f >/dev/null 2>&1 || true
  sleep 0.5
done
if [[ $drained -eq 1 ]]; then
  echo "ok   queue drained"
else
  echo "FAIL queue not empty:"; postqueue -c "$etc" -p
  fails=1
fi

# Deliveries the log must show (maillog written by postlogd).
sleep 1
expect_log() {
  if tail -n "+$((log_start + 1))" "$log" | grep -E "$1" >/dev/null; then
    echo "ok   log: $2"
  else
    echo "FAIL log: $2 (no /$1/ in $log)"
    fails=1
  fi
}
expect_log 'to=<sink@relay.test>.*relay=127\.0\.0\.1\[127\.0\.0\.1\]:2526.*status=sent' "sink@relay.test sent to 127.0.0.1:2526"
expect_log 'to=<blackhole@discard.test>, orig_to=<null@virt.test>.*relay=none.*status=sent' "null@virt.test discarded"
expect_log 'to=<alice@example.test>, orig_to=<info@virt.test>.*relay=virtual.*status=sent' "info@virt.test into alice's mbox"
expect_log 'to=<alice@example.test>, orig_to=<postmaster@example.test>.*relay=virtual.*status=sent' "postmaster alias into alice's mbox"
n=$(( $(mbox_count) - mbox_start ))
if [[ $n -eq 2 ]]; then
  echo "ok   $mbox got $n messages"
else
  echo "FAIL $mbox got $n messages, want 2"
  fails=1
fi

if [[ $fails -eq 0 ]]; then
  echo "PASS: Postfix reference instance in $dir routes as examples/reference/policy.mailc"
else
  echo "FAIL: see above; log: $log" >&2
fi
exit "$fails"
