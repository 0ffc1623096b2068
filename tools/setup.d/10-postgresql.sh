#!/usr/bin/env bash
# Installs Debian's PostgreSQL server if it is absent. The integration-test fixture `postgres_url`
# runs initdb in a temporary directory (as the unprivileged `postgres` user: the server refuses
# root) and starts a throwaway server on a free 127.0.0.1 port. Idempotent and fast once installed.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    exit 0
fi
echo "10-postgresql.sh: installing PostgreSQL (first run only)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
