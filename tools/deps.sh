#!/bin/sh
# deps.sh PKG... - install the Debian packages that are missing.
# As root it runs apt-get; otherwise it prints the exact line to run.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "Accord needs these Debian packages:$missing" >&2
	echo "Run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 ||
	{ apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; } ||
	{ echo "apt-get install failed for:$missing" >&2; exit 1; }
