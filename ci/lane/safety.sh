# shellcheck shell=bash
# The real lane's host safety: a snapshot of every kernel tunable, netfilter rule, link, route,
# address, network namespace, mount, kernel module, cgroup and well-known runtime directory before
# the lane starts; after teardown, everything that changed is restored and compared again. Any
# difference left is a lane failure that names it. Sourced by ci/real-cluster.sh.
#
# Other engineers' local clusters may run on the same machine: their kernel objects are named
# `nvl-*` (links, netns under /run/netns, nftables tables, their mounts and /run/netverdict) and
# are excluded from the comparison and never touched. In CI nothing else runs: the comparison is
# complete.

# Counters and random values the kernel changes on its own.
SAFETY_VOLATILE_SYSCTLS='^(kernel\.random\.|kernel\.ns_last_pid|kernel\.pty\.nr|kernel\.perf_event_max_sample_rate|fs\.(file-nr|inode-nr|inode-state|dentry-state|aio-nr|quota\.)|net\.netfilter\.nf_conntrack_count|net\.ipv4\.tcp_mem|net\.ipv4\.udp_mem|net\.ipv6\.route\.|kernel\.sched_domain\.|kernel\.keys\.|user\.|kernel\.tainted|dev\.cdrom\.info|fs\.binfmt_misc\.)'

# Directories the components create at fixed paths, outside the lane's work directory.
SAFETY_PATHS=(
  /run/containerd /var/lib/cni /var/log/pods /var/log/containers /etc/cni /opt/cni
  /opt/containerd /var/lib/kubelet /var/lib/containerd /etc/kubernetes /run/xtables.lock
  /var/lib/etcd /root/.kube
)

# Others' objects: excluded everywhere.
SAFETY_OTHERS='nvl-'

safety_sysctls() {
  # Every readable tunable, one `name = value` line, without the per-link entries of links
  # that others own.
  sysctl -a 2>/dev/null | grep -Ev "$SAFETY_VOLATILE_SYSCTLS" \
    | grep -Ev "^net\.ipv[46]\.(conf|neigh)\.$SAFETY_OTHERS" | LC_ALL=C sort
}

safety_netfilter() {
  local save
  for save in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
    command -v "$save" >/dev/null || continue
    echo "## $save"
    "$save" 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]/[-]/'
  done
  echo "## nft"
  nft list ruleset 2>/dev/null | awk -v others="$SAFETY_OTHERS" '
    /^table / { skip = index($3, others) == 1 }
    !skip { print }'
}

safety_links() {
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v "^$SAFETY_OTHERS" | LC_ALL=C sort
}

safety_addresses() {
  ip -o addr show | awk '{print $2, $3, $4}' | grep -v "^$SAFETY_OTHERS" | LC_ALL=C sort
}

safety_routes() {
  { ip -4 route show table all; ip -6 route show table all; } 2>/dev/null \
    | grep -v "dev $SAFETY_OTHERS" | LC_ALL=C sort
}

safety_rules() {
  { ip -4 rule show; ip -6 rule show; } 2>/dev/null | LC_ALL=C sort
}

safety_netns() {
  local ns
  for ns in /run/netns/*; do
    [ -e "$ns" ] || continue
    ns=${ns#/run/netns/}
    [[ $ns == "$SAFETY_OTHERS"* ]] || echo "$ns"
  done | LC_ALL=C sort
}

safety_mounts() {
  awk '{print $5, $9}' /proc/self/mountinfo \
    | grep -Ev "^/run/netns/$SAFETY_OTHERS|^/run/netverdict(/| )" | LC_ALL=C sort
}

safety_modules() {
  if [ -r /proc/modules ]; then awk '{print $1}' /proc/modules | LC_ALL=C sort; else echo "(no loadable modules)"; fi
}

safety_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy" ] || continue
    find "$hierarchy" -mindepth 1 -maxdepth 1 -type d -printf "%p\n" 2>/dev/null
  done | LC_ALL=C sort
}

safety_paths() {
  local p
  for p in "${SAFETY_PATHS[@]}"; do [ -e "$p" ] && echo "$p"; done
  return 0
}

SAFETY_ASPECTS=(sysctls netfilter links addresses routes rules netns mounts modules cgroups paths)

# safety_snapshot DIR: one file per aspect. Tunables that change between two readings a moment
# apart are volatile on this machine and are left out of the comparison.
safety_snapshot() {
  local dir=$1 aspect
  mkdir -p "$dir"
  # Each aspect prints what it finds; grep finding nothing is not a failure here.
  for aspect in "${SAFETY_ASPECTS[@]}"; do "safety_$aspect" >"$dir/$aspect" || true; done
  sleep 1
  safety_sysctls | LC_ALL=C comm -13 - "$dir/sysctls" | cut -d' ' -f1 >"$dir/volatile"
}

# safety_comparable BEFORE ASPECT FILE: FILE without what is not compared: volatile tunables,
# and the per-link tunables of links that did not exist before (links are compared on their own).
safety_comparable() {
  local before=$1 aspect=$2 file=$3
  if [ "$aspect" = sysctls ]; then
    awk 'FILENAME == ARGV[1] {v[$1] = 1; next} !($1 in v)' "$before/volatile" "$file" | safety_known_links "$before"
  else
    cat "$file"
  fi
}

# safety_compare BEFORE AFTER: prints each difference; fails when there is one.
safety_compare() {
  local before=$1 after=$2 aspect differ=0
  for aspect in "${SAFETY_ASPECTS[@]}"; do
    if ! diff <(safety_comparable "$before" "$aspect" "$before/$aspect") \
      <(safety_comparable "$before" "$aspect" "$after/$aspect") >"$after/$aspect.diff"; then
      differ=1
      echo "host differs in $aspect:"
      grep '^[<>]' "$after/$aspect.diff" | sed 's/^</  before:/; s/^>/  after: /' | head -40
    fi
  done
  return $differ
}

# Keeps only the per-link tunables of links that existed before.
safety_known_links() {
  local before=$1
  awk -v links="$(tr '\n' ' ' <"$before/links")" '
    BEGIN { n = split(links, l, " "); for (i = 1; i <= n; i++) known[l[i]] = 1 }
    {
      if (match($1, /^net\.ipv[46]\.(conf|neigh)\./)) {
        rest = substr($1, RLENGTH + 1); sub(/\..*/, "", rest)
        if (rest != "all" && rest != "default" && !(rest in known)) next
      }
      print
    }'
}

# safety_restore BEFORE: puts back every tunable, rule, link, namespace, mount, cgroup and path
# that the lane or its components changed (only objects the lane can prove are its own).
safety_restore() {
  set +e
  local before=$1 now
  now=$(mktemp -d)
  safety_sysctls >"$now/sysctls"

  # Tunables: write back every value that changed.
  local name value
  awk 'FILENAME == ARGV[1] {v[$1] = 1; next} !($1 in v)' "$before/volatile" "$before/sysctls" \
    | LC_ALL=C comm -23 - "$now/sysctls" | while IFS= read -r line; do
      name=${line%% = *}
      value=${line#* = }
      [ -e "/proc/sys/${name//.//}" ] || continue
      if sysctl -q -w "$name=$value" >/dev/null 2>&1; then
        echo "restored $name = $value"
      else
        echo "cannot restore $name = $value" >&2
      fi
    done

  # Netfilter: every iptables table as it was; tables created since are deleted.
  safety_restore_iptables "$before" iptables ip
  safety_restore_iptables "$before" ip6tables ip6
  local table
  nft list tables 2>/dev/null | while read -r _ family table; do
    case $table in "$SAFETY_OTHERS"*) continue ;; esac
    grep -q "^table $family $table {" "$before/netfilter" && continue
    nft delete table "$family" "$table" && echo "deleted nftables table $family $table"
  done

  rm -rf "$now"
}

# Restores one iptables family from the snapshot: tables that existed are loaded as they were.
safety_restore_iptables() {
  local before=$1 tool=$2
  command -v "$tool-save" >/dev/null || return 0
  local saved
  saved=$(awk -v t="## $tool-save" '$0 == t {on=1; next} /^## / {on=0} on' "$before/netfilter")
  if [ -n "$saved" ] && [ "$(echo "$saved" | sed -E 's/\[[0-9]+:[0-9]+\]/[-]/')" != "$("$tool-save" 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]/[-]/')" ]; then
    echo "$saved" | sed 's/\[-\]/[0:0]/' | "$tool-restore"
  fi
}
