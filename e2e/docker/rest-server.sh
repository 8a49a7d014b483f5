#!/bin/sh
# The compose fleet's REST server: `rclone serve restic` with htpasswd auth,
# as e2e/lib/fleet.sh starts it, on the port CAIRN_E2E_REST_URL names.
set -eu
mkdir -p /shared/rest /shared/logs
printf '%s:%s\n' "$CAIRN_E2E_REST_USER" "$(openssl passwd -apr1 "$CAIRN_E2E_REST_PASSWORD")" > /shared/rest.htpasswd
exec rclone serve restic --addr 0.0.0.0:8000 --htpasswd /shared/rest.htpasswd /shared/rest
