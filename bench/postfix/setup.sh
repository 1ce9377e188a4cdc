#!/usr/bin/env bash
# Set up a self-contained, benchmark-only Postfix instance under DIR with the
# routing of examples/reference/policy.mailc.
#
#   bench/postfix/setup.sh DIR
#
# DIR/etc    config_directory (main.cf, master.cf, lmdb maps)
# DIR/queue  queue_directory
# DIR/data   data_directory
# DIR/log    maillog file (written by postlogd(8); there is no syslog)
# DIR/mail   mailboxes (mbox, written by virtual(8) as uid/gid 65534)
#
# Needs root (Postfix's master runs as root and drops to the `postfix` user).
# Installs Postfix from Debian if it is missing, without starting a system
# instance. Start the instance with `postfix -c DIR/etc start`.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "$0: must run as root (Postfix's master(8) needs it)" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
case $dir in
  *[[:space:],=\|]*) echo "$0: DIR must not contain whitespace, ',', '=' or '|'" >&2; exit 2 ;;
esac

# --- install -----------------------------------------------------------------
"$here/install.sh"
for u in postfix nobody; do
  id "$u" >/dev/null 2>&1 || { echo "$0: user $u missing" >&2; exit 1; }
done
getent group postdrop >/dev/null || { echo "$0: group postdrop missing" >&2; exit 1; }

# --- refuse to touch a running instance --------------------------------------
if [[ -f $dir/etc/main.cf ]] && postfix -c "$dir/etc" status >/dev/null 2>&1; then
  echo "$0: an instance is running from $dir/etc; stop it first: postfix -c $dir/etc stop" >&2
  exit 1
fi

# --- lay out the instance ----------------------------------------------------
echo "== laying out $dir"
install -d -o root -g root -m 755 "$dir" "$dir/etc" "$dir/queue" "$dir/log"
# data_directory: post-install (run by `postfix check`) creates/fixes it,
# owned by the postfix user.
install -d -o postfix -g root -m 700 "$dir/data"
install -d -o 65534 -g 65534 -m 700 "$dir/mail"

# Postfix's daemons run as the postfix user and must reach DIR/data and
# DIR/queue: every directory above DIR has to be searchable by it (a
# `mktemp -d` directory, mode 700, is not).
if ! runuser -u postfix -- test -x "$dir/data"; then
  echo "$0: the postfix user cannot reach $dir (a parent directory is not searchable);" \
    "chmod o+x the parents or choose another DIR" >&2
  exit 1
fi

for f in main.cf master.cf; do
  sed "s|@DIR@|$dir|g" "$here/$f" >"$dir/etc/$f"
  chmod 644 "$dir/etc/$f"
done
for f in virtual transport local_users mailboxes aliases; do
  install -o root -g root -m 644 "$here/$f" "$dir/etc/$f"
done

echo "== building lmdb maps"
for f in virtual transport local_users mailboxes; do
  postmap -c "$dir/etc" "lmdb:$dir/etc/$f"
done
postalias -c "$dir/etc" "lmdb:$dir/etc/aliases"

echo "== postfix check"
postfix -c "$dir/etc" check

cat <<MSG
== done. The instance listens on 127.0.0.1:2525 once started:
   start:  postfix -c $dir/etc start
   queue:  postqueue -c $dir/etc -p
   log:    $dir/log/maillog
   stop:   postfix -c $dir/etc stop
MSG
