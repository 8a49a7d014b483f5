# The agent's own network: a namespace of the run's own, joined to this one
# by a veth pair, so the agent has an address of its own and a link the
# weather spec can cut (`ip link set … down` inside the namespace) and heal.
#
# CAIRN_E2E_NETWORK=loopback skips it. Where namespaces cannot be made (not
# root, no iproute2, a container without CAP_NET_ADMIN) the run falls back to
# loopback and says so; the specs that need a link to cut are then skipped,
# saying why.
#
# Sets E2E_SERVER_HOST (the outer end's address: the server listens there and
# the agent dials it) and E2E_AGENT_WRAP (the command prefix that runs the
# agent inside), and exports what the specs need to cut the link.

E2E_NETNS=""
E2E_VETH_OUTER=""

setup_network() {
  if [ "${CAIRN_E2E_NETWORK:-netns}" = loopback ]; then
    say "network: loopback (CAIRN_E2E_NETWORK=loopback)"
    export CAIRN_E2E_NETWORK=loopback
    return 0
  fi
  local id=$$ subnet
  subnet=$((id % 200 + 20))
  local name="cairn-e2e-$id" outer="ce2o$id" inner="ce2i$id"
  local outer_ip="10.233.$subnet.1" inner_ip="10.233.$subnet.2"
  E2E_NETNS=$name
  E2E_VETH_OUTER=$outer
  # Every step is checked: a chroot or a container can make a namespace yet
  # refuse to enter it (`ip netns exec` needs / to be a mount point), and a
  # half-made network must fall back, not fail the run.
  if ! command -v ip >/dev/null 2>&1 ||
    ! { ip netns add "$name" &&
      ip link add "$outer" type veth peer name "$inner" &&
      ip link set "$inner" netns "$name" &&
      ip addr add "$outer_ip/30" dev "$outer" &&
      ip link set "$outer" up &&
      ip netns exec "$name" ip addr add "$inner_ip/30" dev "$inner" &&
      ip netns exec "$name" ip link set "$inner" up &&
      ip netns exec "$name" ip link set lo up; } 2>/dev/null; then
    teardown_network
    say "network: namespaces are not available here (root, iproute2 and a mount namespace that can be entered are needed): the agent runs on loopback, and the weather spec is skipped"
    export CAIRN_E2E_NETWORK=loopback
    return 0
  fi
  E2E_SERVER_HOST=$outer_ip
  E2E_AGENT_WRAP=(ip netns exec "$name")
  export CAIRN_E2E_NETWORK=netns
  export CAIRN_E2E_NETNS=$name
  export CAIRN_E2E_AGENT_LINK=$inner
  export CAIRN_E2E_AGENT_IP=$inner_ip
  say "network: the agent runs in namespace $name ($inner_ip), the server listens on $outer_ip"
}

teardown_network() {
  [ -n "$E2E_NETNS" ] || return 0
  ip link del "$E2E_VETH_OUTER" 2>/dev/null || true
  ip netns del "$E2E_NETNS" 2>/dev/null || true
  E2E_NETNS=""
}
