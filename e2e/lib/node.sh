# Node.js for the browser tests. Playwright needs Node 20 or later; Debian
# 12's own nodejs is 18, and a fresh machine may have none. Rather than ask
# for a NodeSource apt source, the runner fetches one pinned Node and npm
# from the npm registry (the same registry `npm ci` uses, so no new host has
# to be reachable), checks each tarball against the sha512 pinned here, and
# keeps them under e2e/.tools/ (gitignored) for the next run.
#
#   CAIRN_E2E_NODE=system   use the node on PATH; fail if it is older than 20
#   CAIRN_E2E_NODE=pinned   use the pinned one even if PATH has a good node
#   (unset)                 the node on PATH when it is 20 or later, else pinned

E2E_NODE_VERSION=20.20.2
E2E_NPM_VERSION=10.9.4
E2E_NPM_INTEGRITY=sha512-OnUG836FwboQIbqtefDNlyR0gTHzIfwRfE3DuiNewBvnMnWEpB0VEXwBlFVgqpNzIgYo/MHh3d2Hel/pszapAA==

# node_integrity ARCH: the pinned sha512 of node-linux-ARCH@E2E_NODE_VERSION.
node_integrity() {
  case $1 in
    x64) echo sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ== ;;
    arm64) echo sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg== ;;
    *) return 1 ;;
  esac
}

# node_major: the major version of the node on PATH, or 0 when there is none.
node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# fetch_verified PACKAGE VERSION INTEGRITY DEST: downloads PACKAGE's tarball
# from the registry into DEST, and removes it again unless its sha512 is
# INTEGRITY. A mirror set in npm_config_registry is honoured.
fetch_verified() {
  local package=$1 version=$2 integrity=$3 dest=$4
  local registry=${npm_config_registry:-https://registry.npmjs.org}
  local url="${registry%/}/$package/-/$package-$version.tgz"
  if ! command -v curl >/dev/null 2>&1; then
    say "installing curl"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq curl ca-certificates
  fi
  say "fetching $package@$version from $registry"
  curl -fsSL --retry 3 --retry-connrefused -o "$dest" "$url" || die "could not download $url"
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$dest" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    rm -f "$dest"
    die "$package@$version from $url is not the pinned tarball (its sha512 is $actual)"
  fi
}

# install_pinned_node DIR: unpacks the pinned node and npm into DIR, so that
# DIR/bin holds `node` and `npm`. A half-finished unpack never passes for a
# whole one: it is built beside DIR and moved into place last.
install_pinned_node() {
  local dir=$1 arch integrity
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no pinned Node.js for $(uname -m): install Node.js 20 or later and run again" ;;
  esac
  integrity=$(node_integrity "$arch")
  local work="$dir.partial"
  rm -rf "$work"
  mkdir -p "$work/lib/node_modules/npm" "$work/bin"
  fetch_verified "node-linux-$arch" "$E2E_NODE_VERSION" "$integrity" "$work/node.tgz"
  tar -xzf "$work/node.tgz" -C "$work" --strip-components=1 package/bin/node
  rm -f "$work/node.tgz"
  fetch_verified npm "$E2E_NPM_VERSION" "$E2E_NPM_INTEGRITY" "$work/npm.tgz"
  tar -xzf "$work/npm.tgz" -C "$work/lib/node_modules/npm" --strip-components=1
  rm -f "$work/npm.tgz"
  # npm and npx as Node's own installer lays them out: scripts beside node.
  local tool
  for tool in npm npx; do
    printf '#!/bin/sh\nexec "$(dirname "$0")/node" "$(dirname "$0")/../lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
      "$tool" >"$work/bin/$tool"
    chmod +x "$work/bin/$tool"
  done
  "$work/bin/node" --version >/dev/null || die "the pinned node does not run on this machine"
  rm -rf "$dir"
  mv "$work" "$dir"
}

# ensure_node: puts a Node 20 or later (and its npm) first on PATH.
ensure_node() {
  local choice=${CAIRN_E2E_NODE:-auto}
  case $choice in
    auto | system | pinned) ;;
    *) die "CAIRN_E2E_NODE must be auto, system or pinned (it is '$choice')" ;;
  esac
  if [ "$choice" != pinned ] && [ "$(node_major)" -ge 20 ]; then
    say "node $(node --version) from $(command -v node)"
    return
  fi
  if [ "$choice" = system ]; then
    die "Node.js 20 or later is needed on PATH (found: $(command -v node >/dev/null && node --version || echo none))"
  fi
  local dir="$E2E_DIR/.tools/node-v$E2E_NODE_VERSION-npm-$E2E_NPM_VERSION"
  [ -x "$dir/bin/node" ] && [ -x "$dir/bin/npm" ] || install_pinned_node "$dir"
  PATH="$dir/bin:$PATH"
  export PATH
  say "node $(node --version) pinned, from $dir"
}
