# The fleet under test, as processes: a restic REST server, a fresh Cairn
# server and one agent that enrolls and waits for approval. Each function
# exports what the specs need (CAIRN_E2E_*, see e2e/run).
#
# Loopback only for now. Issue #14 puts the agent in a network namespace:
# E2E_AGENT_WRAP (a command prefix, e.g. `ip netns exec cairn-e2e`) and
# E2E_SERVER_HOST (the address the server listens on and agents dial) are the
# two knobs for that; CAIRN_E2E_NETWORK tells the specs which way it runs.

E2E_SERVER_HOST=${E2E_SERVER_HOST:-127.0.0.1}
E2E_AGENT_WRAP=(${E2E_AGENT_WRAP:-})
export CAIRN_E2E_NETWORK=${CAIRN_E2E_NETWORK:-loopback}

# `rclone serve restic` with htpasswd auth, as cairn-testkit's RestServer.
start_rest_server() {
  local dir="$E2E_WORK/rest" port user=e2e password hash
  mkdir -p "$dir/data"
  port=$(free_port)
  password=$(openssl rand -hex 16)
  hash=$(openssl passwd -apr1 "$password")
  printf '%s:%s\n' "$user" "$hash" >"$dir/htpasswd"
  local log="$E2E_LOGS/rest-server.log"
  spawn "rest server" "$log" rclone serve restic --addr "127.0.0.1:$port" \
    --htpasswd "$dir/htpasswd" "$dir/data"
  local pid=${E2E_PIDS[-1]}
  rest_up() { alive "rest server" "$pid" "$log" || exit 1; listening 127.0.0.1 "$port"; }
  wait_for "the REST server on port $port" 60 rest_up
  export CAIRN_E2E_REST_URL="rest:http://127.0.0.1:$port/"
  export CAIRN_E2E_REST_USER=$user
  export CAIRN_E2E_REST_PASSWORD=$password
  export CAIRN_E2E_REST_DATA="$dir/data"
}

# A fresh `cairn server` (plaintext on loopback) in its own data directory;
# exports its URL and the one-time setup link it logs.
start_server() {
  local port log="$E2E_LOGS/server.log"
  port=$(free_port)
  export CAIRN_E2E_BASE_URL="http://$E2E_SERVER_HOST:$port"
  export CAIRN_E2E_SERVER_DATA="$E2E_WORK/server"
  spawn "cairn server" "$log" env CAIRN_LOG_LEVEL="${CAIRN_E2E_LOG_LEVEL:-info}" \
    "$E2E_CAIRN" server --listen "$E2E_SERVER_HOST:$port" \
    --data-dir "$CAIRN_E2E_SERVER_DATA" --plaintext --public-url "$CAIRN_E2E_BASE_URL"
  local pid=${E2E_PIDS[-1]}
  server_up() {
    alive "cairn server" "$pid" "$log" || exit 1
    log_has "$log" 'serving gRPC, web UI and probes' && log_has "$log" '/setup\?token='
  }
  wait_for "the server to listen and print its setup link" 90 server_up
  CAIRN_E2E_SETUP_URL=$(log_value "$log" '.*first admin: (http[^ ]*\/setup\?token=[^ ]*).*')
  [ -n "$CAIRN_E2E_SETUP_URL" ] || die "no setup link in $log"
  export CAIRN_E2E_SETUP_URL
}

# `cairn agent` for this machine, without an enrollment token: it announces
# itself and waits PENDING until an operator approves it. Exports the
# fingerprint the agent printed and the host id the server gave it.
start_agent() {
  local log="$E2E_LOGS/agent.log"
  export CAIRN_E2E_AGENT_STATE="$E2E_WORK/agent"
  export CAIRN_E2E_RESTORE_ROOT="$E2E_WORK/restores"
  mkdir -p "$CAIRN_E2E_RESTORE_ROOT"
  spawn "cairn agent" "$log" "${E2E_AGENT_WRAP[@]}" env CAIRN_LOG_LEVEL="${CAIRN_E2E_LOG_LEVEL:-info}" \
    "$E2E_CAIRN" agent --server "$CAIRN_E2E_BASE_URL" --allow-plaintext \
    --state-dir "$CAIRN_E2E_AGENT_STATE" --restore-root "$CAIRN_E2E_RESTORE_ROOT"
  local pid=${E2E_PIDS[-1]}
  agent_pending() {
    alive "cairn agent" "$pid" "$log" || exit 1
    log_has "$log" '^server says: WELCOME_STATUS_PENDING_APPROVAL \(host [0-9]+\)'
  }
  wait_for "the agent to enroll and wait for approval" 90 agent_pending
  CAIRN_E2E_AGENT_FINGERPRINT=$(log_value "$log" '^cairn agent identity fingerprint: ([^ ]+)$')
  CAIRN_E2E_AGENT_HOST_ID=$(log_value "$log" '^server says: WELCOME_STATUS_PENDING_APPROVAL \(host ([0-9]+)\).*')
  [ -n "$CAIRN_E2E_AGENT_FINGERPRINT" ] || die "the agent printed no fingerprint (see $log)"
  export CAIRN_E2E_AGENT_FINGERPRINT CAIRN_E2E_AGENT_HOST_ID CAIRN_E2E_AGENT_LOG="$log"
}
