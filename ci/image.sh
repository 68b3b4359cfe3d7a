#!/usr/bin/env bash
# Builds the netverdict image (runner and probe pods: netverdict, curl, nc, nslookup/dig, user
# 65532, entrypoint netverdict) from Debian packages alone: mmdebstrap for the root filesystem,
# umoci for the image, skopeo for the archives. No container engine, no registry. The Dockerfile
# builds the same contents for Docker users. Run as root on Debian.
#
#   ci/image.sh [--binary FILE] [--name NAME] [--output DIR] [--base-cache DIR]
#
#   --binary FILE     the netverdict binary to put in (default: a release build of this tree)
#   --name NAME       the image's name (default: localhost/netverdict/netverdict:VERSION)
#   --output DIR      where the archives go (default: target/image)
#   --base-cache DIR  keep the Debian layer here and reuse it while the package list is unchanged
#
# Writes DIR/netverdict.oci.tar (OCI archive) and DIR/netverdict.docker.tar (docker archive).
# Same inputs (binary, package versions of the pinned archive, SOURCE_DATE_EPOCH) give the same
# image digest. `ci/image.sh check ARCHIVE` verifies an archive's contents and configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib/oci.sh

# The Debian packages of the image, as in the Dockerfile.
IMAGE_PACKAGES=(curl netcat-openbsd bind9-dnsutils ca-certificates)
IMAGE_USER=65532:65532
IMAGE_ENTRYPOINT=/usr/local/bin/netverdict
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

need_tools() {
  local missing=() p
  for p in mmdebstrap umoci skopeo jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The machine's own Debian sources (its mirror or pinned snapshot), as deb822.
debian_sources() {
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    cat /etc/apt/sources.list.d/*.sources | grep -v '^#'
  else
    echo "Types: deb"
    echo "URIs: http://deb.debian.org/debian"
    echo "Suites: bookworm bookworm-updates"
    echo "Components: main"
  fi
}

# The Debian root filesystem: only Essential packages plus the probe tools, no docs or caches.
build_base() {
  local rootfs=$1
  debian_sources | mmdebstrap --quiet --mode=root --format=directory --variant=essential \
    --include="$(IFS=,; echo "${IMAGE_PACKAGES[*]}")" \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/cache/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    --customize-hook='rm -f "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id' \
    bookworm "$rootfs" -
}

build() {
  local binary="" name="" output=target/image base_cache=""
  while [ $# -gt 0 ]; do
    case $1 in
      --binary) binary=$2; shift 2 ;;
      --name) name=$2; shift 2 ;;
      --output) output=$2; shift 2 ;;
      --base-cache) base_cache=$2; shift 2 ;;
      *) echo "unknown option: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
  done
  local version
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  name=${name:-localhost/netverdict/netverdict:$version}
  if [ -z "$binary" ]; then
    cargo build --release --locked --bin netverdict
    binary=target/release/netverdict
  fi
  need_tools
  mkdir -p "$output"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT

  # The Debian layer, reused while the package list, sources and epoch are unchanged.
  local key base
  key=$( {
    printf '%s\n' "${IMAGE_PACKAGES[@]}" "$SOURCE_DATE_EPOCH"
    debian_sources; declare -f build_base oci_new oci_add_dir
  } | sha256sum | cut -c1-16)
  base=${base_cache:+$base_cache/base-$key.oci}
  if [ -z "$base" ] || [ ! -f "$base/index.json" ]; then
    echo "building the Debian layer (${IMAGE_PACKAGES[*]})" >&2
    build_base "$work/rootfs"
    oci_new "$work/base"
    oci_add_dir "$work/base" "$work/rootfs" "mmdebstrap --variant=essential --include=$(IFS=,; echo "${IMAGE_PACKAGES[*]}") bookworm"
    rm -rf "$work/rootfs"
    if [ -n "$base" ]; then
      mkdir -p "$base_cache"
      rm -rf "$base_cache"/base-*.oci
      cp -a "$work/base" "$base"
    fi
  else
    cp -a "$base" "$work/base"
  fi

  # netverdict and the scenario library, as a second layer.
  mkdir -p "$work/app/usr/local/bin" "$work/app/scenarios"
  install -m 0755 "$binary" "$work/app/usr/local/bin/netverdict"
  cp -r scenarios/. "$work/app/scenarios/"
  chmod -R u=rwX,go=rX "$work/app/scenarios"
  oci_add_dir "$work/base" "$work/app" "netverdict $version and /scenarios"
  oci_configure "$work/base" "$name" "$IMAGE_USER" "$IMAGE_ENTRYPOINT"

  rm -f "$output/netverdict.oci.tar" "$output/netverdict.docker.tar"
  oci_archive "$work/base" "$output/netverdict.oci.tar" "$name"
  skopeo copy -q "oci:$work/base:latest" "docker-archive:$output/netverdict.docker.tar:$name"
  (check "$output/netverdict.oci.tar") >&2
  local digest
  digest=$(jq -r '.manifests[0].digest' "$work/base/index.json")
  cat <<TEXT
built $name (manifest $digest)
  $output/netverdict.oci.tar     OCI archive
  $output/netverdict.docker.tar  docker archive
load it:
  containerd (kubelet's namespace):  ctr -n k8s.io images import $output/netverdict.docker.tar
  Docker:                            docker load -i $output/netverdict.docker.tar
  kind:                              kind load image-archive $output/netverdict.docker.tar
  a registry:                        skopeo copy oci-archive:$output/netverdict.oci.tar docker://REGISTRY/netverdict/netverdict:$version
then run with --probe-image $name
TEXT
}

# check ARCHIVE: the binaries exist and are executable, the user is 65532, the entrypoint is
# netverdict. Reads an OCI or docker archive with skopeo and tar only.
check() {
  local archive=$1 failed=0 scratch
  scratch=$(mktemp -d)
  local transport=oci-archive
  tar -tf "$archive" manifest.json >/dev/null 2>&1 && transport=docker-archive
  skopeo copy -q "$transport:$archive" "dir:$scratch/image"
  local config
  config=$(jq -r '.config.digest' "$scratch/image/manifest.json" | sed 's/^sha256://')
  local user entrypoint
  user=$(jq -r '.config.User' "$scratch/image/$config")
  entrypoint=$(jq -c '.config.Entrypoint' "$scratch/image/$config")
  mkdir "$scratch/rootfs"
  local layer
  for layer in $(jq -r '.layers[].digest' "$scratch/image/manifest.json" | sed 's/^sha256://'); do
    tar -xf "$scratch/image/$layer" -C "$scratch/rootfs"
  done
  verify() {
    if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; failed=1; fi
  }
  verify "user is 65532:65532 ($user)" '[ "$user" = 65532:65532 ]'
  verify "entrypoint is netverdict ($entrypoint)" '[ "$entrypoint" = "[\"/usr/local/bin/netverdict\"]" ]'
  local tool
  for tool in /usr/local/bin/netverdict /usr/bin/curl /usr/bin/nc.openbsd /usr/bin/nslookup /usr/bin/dig; do
    verify "$tool is executable" "[ -x '$scratch/rootfs$tool' ]"
  done
  verify "nc is netcat-openbsd" "[ \"\$(chroot '$scratch/rootfs' readlink -f /usr/bin/nc)\" = /usr/bin/nc.openbsd ]"
  verify "netverdict runs in the image's root (--version)" "chroot '$scratch/rootfs' /usr/local/bin/netverdict --version >/dev/null"
  verify "curl runs in the image's root" "chroot '$scratch/rootfs' /usr/bin/curl --version >/dev/null"
  verify "the scenario library is in /scenarios" "[ -n \"\$(ls '$scratch/rootfs/scenarios/'*.yaml 2>/dev/null)\" ]"
  rm -rf "$scratch"
  return $failed
}

case "${1:-}" in
  check) shift; check "$@" ;;
  *) build "$@" ;;
esac
