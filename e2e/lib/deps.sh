# What the browser tests need beyond `scripts/install-deps` (restic, rclone,
# openssl, setpriv): Debian's Chromium, Node.js 20 or later (lib/node.sh) and
# the pinned npm packages. Each is
# installed only when missing, so every run can call this.

ensure_deps() {
  "$E2E_ROOT/scripts/install-deps"

  if [ ! -x "$E2E_CHROMIUM" ]; then
    say "installing Debian's chromium"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
  fi

  ensure_node

  # npm ci again only when package-lock.json changed since the last install;
  # Playwright never downloads a browser of its own: it drives Debian's.
  local lock_sum stamp="$E2E_DIR/node_modules/.cairn-lock.sha256"
  lock_sum=$(sha256sum "$E2E_DIR/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    say "installing the npm packages (npm ci)"
    (cd "$E2E_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$stamp"
  fi
}
