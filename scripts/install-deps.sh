#!/usr/bin/env bash
# Installs what the tests need beyond Go: redis-server (the tests start their own servers
# on free ports). Idempotent, and silent when everything is there already.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
	exit 0
fi

echo "install-deps: redis-server not found; installing redis-server and redis-tools with apt-get" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: apt-get is not available; install redis-server (Redis 6.2 or later) by hand" >&2
	exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-deps: not root and no sudo; install redis-server by hand" >&2
		exit 1
	fi
	sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq redis-server redis-tools >/dev/null

# The Debian package starts a system redis-server on port 6379 where a service manager
# runs. The tests never use it (they start their own), so stop it and keep it off.
$sudo service redis-server stop >/dev/null 2>&1 || true
if command -v systemctl >/dev/null 2>&1; then
	$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

if ! command -v redis-server >/dev/null 2>&1; then
	echo "install-deps: redis-server is still missing after apt-get install" >&2
	exit 1
fi
echo "install-deps: $(redis-server --version)" >&2
