# shellcheck shell=bash
# OCI images from directories, without a container engine or a registry (GNU tar, umoci, skopeo).
# Sourced by ci/image.sh and ci/real-cluster.sh. Every timestamp is SOURCE_DATE_EPOCH (default
# 0) and layers are tarred in a fixed order with numeric owners, so the same inputs give the same
# image digest.

oci_epoch() { echo "${SOURCE_DATE_EPOCH:-0}"; }
oci_created() { date -u -d "@$(oci_epoch)" +%Y-%m-%dT%H:%M:%SZ; }

# oci_new LAYOUT: an empty image tagged `latest` in a new OCI layout.
oci_new() {
  rm -rf "$1"
  umoci init --layout "$1"
  umoci new --image "$1:latest"
}

# oci_add_dir LAYOUT DIR WHAT: DIR's content, at /, as one more layer (WHAT names it in the
# history). The layer is tarred by GNU tar and added verbatim (umoci's own insert writes
# truncated layers for large files).
oci_add_dir() {
  local layout=$1 dir=$2 what=$3 tarball
  tarball=$(mktemp "${TMPDIR:-/tmp}/layer.XXXXXX")
  tar --create --file="$tarball" --directory="$dir" --sort=name --numeric-owner \
    --mtime="@$(oci_epoch)" --clamp-mtime --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
  umoci raw add-layer --image "$layout:latest" --history.created "$(oci_created)" \
    --history.created_by "$what" --history.author netverdict "$tarball"
  rm -f "$tarball"
}

# oci_configure LAYOUT NAME USER ENTRYPOINT...: the image's user, entrypoint and name.
oci_configure() {
  local layout=$1 name=$2 user=$3 arg entry=()
  shift 3
  for arg in "$@"; do entry+=(--config.entrypoint "$arg"); done
  umoci config --no-history --image "$layout:latest" \
    --created "$(oci_created)" --author netverdict --architecture amd64 --os linux \
    --config.user "$user" --config.workingdir / "${entry[@]}" \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --manifest.annotation "org.opencontainers.image.ref.name=$name"
  umoci gc --layout "$layout"
}

# oci_archive LAYOUT FILE NAME: an OCI archive (a tar of an OCI layout) whose only image is
# LAYOUT's `latest` under NAME, written byte for byte the same from the same image.
oci_archive() {
  local layout=$1 file=$2 name=$3 out
  out=$(mktemp -d "${TMPDIR:-/tmp}/archive.XXXXXX")
  skopeo copy -q "oci:$layout:latest" "oci:$out/layout:$name"
  tar --create --file="$file" --directory="$out/layout" --sort=name --numeric-owner \
    --owner=0 --group=0 --mode=u=rwX,go=rX --mtime="@$(oci_epoch)" --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
  rm -rf "$out"
}
