#!/usr/bin/env bash
# Installs what the tests need beyond Go: redis-server (the tests start their own servers
# on free ports) and redis-cli (Debian package redis-tools: a test runs redis-cli
# monitor through the proxy). With the argument "bench" (make bench), also what bench/
# runs: redis-benchmark (redis-tools too) and nutcracker (twemproxy). Installs only
# what is missing, with apt-get; idempotent, and silent when everything is there already.
set -euo pipefail

# command:package pairs to make sure of.
need=(redis-server:redis-server redis-cli:redis-tools)
case "${1:-}" in
"") ;;
bench) need+=(redis-benchmark:redis-tools nutcracker:nutcracker) ;;
*)
	echo "usage: $0 [bench]" >&2
	exit 2
	;;
esac

# found tells whether a command is installed. Debian puts nutcracker in /usr/sbin, which
# is not on a user's PATH.
found() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

missing=()
for pair in "${need[@]}"; do
	if ! found "${pair%%:*}"; then
		missing+=("${pair#*:}")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
# redis-tools comes with redis-server (as a dependency, and named here for clarity).
for pkg in "${missing[@]}"; do
	if [ "$pkg" = redis-server ]; then
		missing+=(redis-tools)
		break
	fi
done

echo "install-deps: installing ${missing[*]} with apt-get" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: apt-get is not available; install ${missing[*]} by hand (Redis 6.2 or later)" >&2
	exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-deps: not root and no sudo; install ${missing[*]} by hand" >&2
		exit 1
	fi
	sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null

# The Debian packages start a system redis-server on port 6379 and a system nutcracker
# where a service manager runs. Neither the tests nor the benchmark use them (they start
# their own on free ports), and on a small machine they would compete for the CPU: stop
# them and keep them off.
for svc in redis-server nutcracker; do
	case " ${missing[*]} " in
	*" $svc "*)
		$sudo service "$svc" stop >/dev/null 2>&1 || true
		if command -v systemctl >/dev/null 2>&1; then
			$sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
		fi
		;;
	esac
done

for pair in "${need[@]}"; do
	if ! found "${pair%%:*}"; then
		echo "install-deps: ${pair%%:*} is still missing after apt-get install ${pair#*:}" >&2
		exit 1
	fi
done
echo "install-deps: $(redis-server --version)" >&2
