# The fleet under test, as processes: a restic REST server, a fresh Cairn
# server and one agent that enrolls and waits for approval. Each function
# exports what the specs need (CAIRN_E2E_*, see e2e/run).
#
# Where the agent runs is net.sh's to say: E2E_AGENT_WRAP (a command prefix,
# `ip netns exec cairn-e2e-…`) and E2E_SERVER_HOST (the address the server and
# the REST server listen on and the agent dials); loopback without them.

E2E_SERVER_HOST=${E2E_SERVER_HOST:-127.0.0.1}
E2E_AGENT_WRAP=(${E2E_AGENT_WRAP:-})

# `rclone serve restic` with htpasswd auth, as cairn-testkit's RestServer.
start_rest_server() {
  local dir="$E2E_WORK/rest" port user=e2e password hash
  mkdir -p "$dir/data"
  port=$(free_port)
  password=$(openssl rand -hex 16)
  hash=$(openssl passwd -apr1 "$password")
  printf '%s:%s\n' "$user" "$hash" >"$dir/htpasswd"
  local log="$E2E_LOGS/rest-server.log"
  spawn "rest server" "$log" rclone serve restic --addr "$E2E_SERVER_HOST:$port" \
    --htpasswd "$dir/htpasswd" "$dir/data"
  local pid=${E2E_PIDS[-1]}
  rest_up() { alive "rest server" "$pid" "$log" || exit 1; listening "$E2E_SERVER_HOST" "$port"; }
  wait_for "the REST server on port $port" 60 rest_up
  export CAIRN_E2E_REST_URL="rest:http://$E2E_SERVER_HOST:$port/"
  export CAIRN_E2E_REST_USER=$user
  export CAIRN_E2E_REST_PASSWORD=$password
  export CAIRN_E2E_REST_DATA="$dir/data"
}

# The server's flags beyond where it listens and keeps its data: plaintext,
# and clocks set for weather on a test's time scale: heartbeats every 3 s, a
# dead link noticed in about 10 s (keepalive PING every 5 s, 5 s to answer),
# offline alerts after 15 s, alerts evaluated every 2 s, a firing with no job
# missed after 10 s. e2e/compose.e2e.yml gives the same (specs/meta checks).
E2E_SERVER_FLAGS=(--plaintext --agent-heartbeat-interval 3s --http2-keepalive-interval 5s
  --http2-keepalive-timeout 5s --agent-offline-after 15s --alert-evaluate-every 2s --schedule-grace 10s)
# The agent's: no enrollment token, so it waits pending for an operator.
E2E_AGENT_FLAGS=(--allow-plaintext)

# A fresh `cairn server` in its own data directory; exports its URL and the
# one-time setup link it logs.
start_server() {
  local port log="$E2E_LOGS/server.log"
  port=$(free_port)
  export CAIRN_E2E_BASE_URL="http://$E2E_SERVER_HOST:$port"
  export CAIRN_E2E_SERVER_DATA="$E2E_WORK/server"
  spawn "cairn server" "$log" env CAIRN_LOG_LEVEL="${CAIRN_E2E_LOG_LEVEL:-info}" \
    "$E2E_CAIRN" server --listen "$E2E_SERVER_HOST:$port" \
    --data-dir "$CAIRN_E2E_SERVER_DATA" --public-url "$CAIRN_E2E_BASE_URL" "${E2E_SERVER_FLAGS[@]}"
  await_server "$log" "${E2E_PIDS[-1]}"
}

# await_server LOG [PID]: waits for the server's log to show it listening and
# its setup link (while PID, if given, lives); exports CAIRN_E2E_SETUP_URL.
await_server() {
  local log=$1 pid=${2:-}
  server_up() {
    [ -z "$pid" ] || alive "cairn server" "$pid" "$log" || exit 1
    log_has "$log" 'serving gRPC, web UI and probes' && log_has "$log" '/setup\?token='
  }
  wait_for "the server to listen and print its setup link" 90 server_up
  CAIRN_E2E_SETUP_URL=$(log_value "$log" '.*first admin: (http[^ ]*\/setup\?token=[^ ]*).*')
  [ -n "$CAIRN_E2E_SETUP_URL" ] || die "no setup link in $log"
  export CAIRN_E2E_SETUP_URL
}

# `cairn agent` for this machine, without an enrollment token: it announces
# itself and waits PENDING until an operator approves it.
start_agent() {
  local log="$E2E_LOGS/agent.log"
  export CAIRN_E2E_AGENT_STATE="$E2E_WORK/agent"
  export CAIRN_E2E_RESTORE_ROOT="$E2E_WORK/restores"
  mkdir -p "$CAIRN_E2E_RESTORE_ROOT"
  spawn "cairn agent" "$log" "${E2E_AGENT_WRAP[@]}" env CAIRN_LOG_LEVEL="${CAIRN_E2E_LOG_LEVEL:-info}" \
    "$E2E_CAIRN" agent --server "$CAIRN_E2E_BASE_URL" "${E2E_AGENT_FLAGS[@]}" \
    --state-dir "$CAIRN_E2E_AGENT_STATE" --restore-root "$CAIRN_E2E_RESTORE_ROOT"
  await_agent "$log" "${E2E_PIDS[-1]}"
}

# await_agent LOG [PID]: waits for the agent's log to show it pending (while
# PID, if given, lives); exports the fingerprint the agent printed, the host
# id the server gave it and where its log is.
await_agent() {
  local log=$1 pid=${2:-}
  agent_pending() {
    [ -z "$pid" ] || alive "cairn agent" "$pid" "$log" || exit 1
    log_has "$log" '^server says: WELCOME_STATUS_PENDING_APPROVAL \(host [0-9]+\)'
  }
  wait_for "the agent to enroll and wait for approval" 90 agent_pending
  CAIRN_E2E_AGENT_FINGERPRINT=$(log_value "$log" '^cairn agent identity fingerprint: ([^ ]+)$')
  CAIRN_E2E_AGENT_HOST_ID=$(log_value "$log" '^server says: WELCOME_STATUS_PENDING_APPROVAL \(host ([0-9]+)\).*')
  [ -n "$CAIRN_E2E_AGENT_FINGERPRINT" ] || die "the agent printed no fingerprint (see $log)"
  export CAIRN_E2E_AGENT_FINGERPRINT CAIRN_E2E_AGENT_HOST_ID CAIRN_E2E_AGENT_LOG="$log"
}
