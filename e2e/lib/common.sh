# Helpers of e2e/run: messages, waiting on a condition, free ports, and the
# processes the run started (each in its own process group, so a restic that
# an agent started goes down with it).

say() { printf 'e2e: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds,
# or dies after SECONDS. Polling a condition, never sleeping a fixed time
# and hoping: a loaded 2-core CI machine is slow, not wrong.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${seconds}s waiting for $what"
    fi
    sleep 0.2
  done
}

# free_port: a TCP port on loopback that nothing listens on right now.
free_port() {
  node -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# listening HOST PORT: whether something accepts connections there.
listening() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# log_has FILE PATTERN: whether FILE has a line matching the extended regex.
log_has() {
  [ -f "$1" ] && grep -Eq -- "$2" "$1"
}

# log_value FILE PATTERN: the first capture of a sed -E pattern in FILE.
log_value() {
  sed -nE "s/$2/\\1/p" "$1" | head -n 1
}

E2E_PIDS=()
E2E_NAMES=()

# spawn NAME LOG COMMAND...: starts COMMAND in its own session and process
# group (setsid execs it, so $! is its pid and its group), output to LOG.
spawn() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  E2E_PIDS+=("$!")
  E2E_NAMES+=("$name")
  say "started $name (pid $!), log $log"
}

# alive NAME PID LOG: fails, showing the end of LOG, if PID has exited.
alive() {
  local name=$1 pid=$2 log=$3
  if ! kill -0 "$pid" 2>/dev/null; then
    say "$name exited early; the end of its log ($log):"
    tail -n 30 "$log" >&2 || true
    return 1
  fi
}

# stop_all: SIGTERM to each group started, newest first (the agent before
# the server before the REST server), then SIGKILL to whatever outlives a
# generous grace.
stop_all() {
  local i pid deadline
  for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${E2E_PIDS[$i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "${E2E_NAMES[$i]} ignored SIGTERM for 20s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  E2E_PIDS=()
  E2E_NAMES=()
}

# run_group COMMAND...: runs COMMAND in its own process group with the
# terminal's output, and returns its exit code. Waiting with `wait` keeps
# this shell able to act on a signal at once (teardown stops the group),
# where a plain foreground command would defer the trap until it ends.
E2E_GROUP=""
run_group() {
  setsid "$@" &
  E2E_GROUP=$!
  local rc=0
  wait "$E2E_GROUP" || rc=$?
  E2E_GROUP=""
  return "$rc"
}

# stop_group: SIGINT to the group run_group started (Playwright then stops
# its browsers and writes its reports), SIGKILL if it is still there later.
stop_group() {
  [ -n "$E2E_GROUP" ] && kill -0 "$E2E_GROUP" 2>/dev/null || return 0
  kill -INT -- "-$E2E_GROUP" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$E2E_GROUP" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  kill -KILL -- "-$E2E_GROUP" 2>/dev/null || true
  wait "$E2E_GROUP" 2>/dev/null || true
  E2E_GROUP=""
}
