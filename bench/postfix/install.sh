#!/usr/bin/env bash
# Install Debian's Postfix (with LMDB and CDB maps and smtp-sink) for the benchmarks,
# without configuring or starting a system instance. Does nothing when it is
# already installed. Needs root.
#
#   bench/postfix/install.sh
set -euo pipefail

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
if installed postfix && installed postfix-lmdb && installed postfix-cdb && command -v smtp-sink >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "$0: Postfix is missing and installing it needs root" >&2
  exit 1
fi
echo "== installing postfix, postfix-lmdb and postfix-cdb"
# "No configuration": no /etc/postfix/main.cf, no system instance.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y postfix postfix-lmdb postfix-cdb
# Should a system instance have been started anyway, stop and disable it.
postfix stop >/dev/null 2>&1 || true
service postfix stop >/dev/null 2>&1 || true
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now postfix >/dev/null 2>&1 || true
fi
