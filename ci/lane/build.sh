# shellcheck shell=bash
# The real lane's build: Kubernetes from Debian's `kubernetes` source package, the pause binary,
# the probe image. Sourced by ci/real-cluster.sh; every output lands in $LANE_CACHE and is built
# only when missing.

# Debian packages the lane runs or builds with.
LANE_PACKAGES=(
  golang-go rsync jq gcc libc6-dev make dpkg-dev
  etcd-server containerd runc containernetworking-plugins iptables
  umoci skopeo debootstrap
)

lane_install_packages() {
  local missing=() p
  for p in "${LANE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  # The packaged services must not start on their own: the lane starts its own instances.
  local policy_rc=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod 0755 "$policy_rc" && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { [ $created_policy = 1 ] && rm -f "$policy_rc"; return 1; }
  [ $created_policy = 1 ] && rm -f "$policy_rc"
  return 0
}

# The Debian archive the machine already uses for bookworm (its mirror or snapshot).
lane_debian_uri() {
  local uri
  uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Fetches and unpacks the source package with a private sources list and private package lists,
# so the machine's apt configuration and state stay untouched.
lane_fetch_source() {
  local src=$LANE_CACHE/src
  [ -f "$src/.complete" ] && return 0
  rm -rf "$src" "$LANE_CACHE/apt"
  local apt=$LANE_CACHE/apt
  mkdir -p "$apt/lists/partial" "$apt/parts" "$apt/cache/archives/partial" "$src"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(lane_debian_uri) bookworm main" \
    >"$apt/sources.list"
  local opts=(
    -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root"
  )
  apt-get "${opts[@]}" -qq update
  (cd "$src" && apt-get "${opts[@]}" -qq source --download-only "kubernetes=$LANE_K8S_DEB_VERSION")
  (cd "$src" && dpkg-source --no-check -x ./*.dsc tree >/dev/null)
  rm -rf "$apt"
  touch "$src/.complete"
}

# The upstream Makefile in GOPATH mode, offline, as Debian's rules build it.
lane_build_kubernetes() {
  local out=$LANE_CACHE/bin
  [ -f "$out/.complete" ] && return 0
  lane_fetch_source
  local tree=$LANE_CACHE/src/tree
  rm -rf "$out" "$tree/.go" "$tree/_output"
  mkdir -p "$tree/.go/src/k8s.io" "$out"
  ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
  (
    cd "$tree" || exit 1
    export GOPATH=$tree/.go GOCACHE=$LANE_CACHE/gocache GOPROXY=off CGO_ENABLED=0 HOME=$LANE_CACHE
    export KUBE_GIT_VERSION=$LANE_K8S_VERSION KUBE_GIT_TREE_STATE=archive KUBE_GIT_COMMIT=
    nice -n 15 make WHAT="${LANE_K8S_COMMANDS[*]/#/cmd/}" >"$LANE_CACHE/build.log" 2>&1 \
      || { tail -40 "$LANE_CACHE/build.log"; return 1; }
  )
  local b
  for b in "${LANE_K8S_COMMANDS[@]}"; do cp "$tree/_output/bin/$b" "$out/$b"; done
  # Only the binaries are needed to run; the Go cache and build output are large.
  rm -rf "$LANE_CACHE/gocache" "$tree/_output" "$tree/.go"
  touch "$out/.complete"
}

# The sandbox's pause process, compiled statically from the tree's own pause.c, as an image.
lane_build_pause_image() {
  local archive=$LANE_CACHE/images/pause.tar
  [ -f "$archive" ] && return 0
  lane_fetch_source
  local work
  work=$(mktemp -d "$LANE_CACHE/pause.XXXX")
  mkdir -p "$work/rootfs" "$LANE_CACHE/images"
  gcc -Os -static -DVERSION="$LANE_K8S_VERSION" -o "$work/rootfs/pause" \
    "$LANE_CACHE/src/tree/build/pause/linux/pause.c"
  strip "$work/rootfs/pause"
  oci_new "$work/oci"
  oci_add_dir "$work/oci" "$work/rootfs" "pause.c of kubernetes $LANE_K8S_VERSION, static"
  oci_configure "$work/oci" "$LANE_PAUSE_IMAGE" 65535:65535 /pause
  skopeo copy -q "oci:$work/oci:latest" "docker-archive:$archive.part:$LANE_PAUSE_IMAGE"
  mv "$archive.part" "$archive"
  rm -rf "$work"
}
