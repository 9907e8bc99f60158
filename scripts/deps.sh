#!/bin/sh
# Installs the Debian packages that building and testing asyncd need, when
# any is missing. As root it runs apt-get; otherwise it prints the command.
#
#   scripts/deps.sh		what make, make check and make demo need
#   scripts/deps.sh bench	and what make bench compares asyncd with
#				(task-spooler, for asyncctl run against tsp)
set -eu

PKGS="build-essential libev-dev libnng-dev nng-utils libcjson-dev rsync imagemagick \
libcmocka-dev libsystemd-dev libsqlite3-dev sqlite3 pkg-config libssl-dev"
if [ "${1:-}" = bench ]; then
	PKGS="$PKGS task-spooler"
fi

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root: apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
