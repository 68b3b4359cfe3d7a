#!/usr/bin/env bash
# Checks that the README's two commands work on a fresh Debian machine, as root, with nothing
# but a Rust toolchain added and the repository cloned under /root.
#
#   ci/fresh-root.sh     runs ./ci/main.sh, then ./ci/test.sh, in a fresh minimal bookworm root
#                        and reports each command's result and time; exits 1 if either failed
#
# The root is `debootstrap --variant=minbase bookworm` from the machine's Debian mirror (the one
# apt uses), made once and cached in $NETVERDICT_FRESH_ROOT_CACHE (default
# /var/cache/netverdict/fresh-root-v1; a new layout gets a new version). Each run gets an overlay
# of it of its own, into which go only: rustup's active toolchain (~/.rustup without its HTML
# docs, ~/.cargo/bin), the machine's CA bundle (also as local certificates, which Debian's
# ca-certificates keeps) and resolv.conf (so the package registries are reachable), and a clone of this repository's committed HEAD at /root/netverdict (git is needed
# here, not inside).
#
# The run has mount and PID namespaces of its own: the overlay, /proc, /sys and /dev bound in and
# a tmpfs /run, so the nested tests keep their network namespaces (/run/netns) and local-cluster
# instances (/run/netverdict) apart from the machine's, and cannot see, stop or remove the
# machine's own local clusters. Everything goes when the run ends, also on failure or Ctrl-C: the
# end of the PID namespace ends every process started inside, the mount namespace takes every
# mount (and with them the nested network namespaces), and the overlay's files are removed.
#
# Inside, NETVERDICT_IN_FRESH_ROOT=1 is set: ci/test.sh then skips the checks that cannot nest
# (this one, and a real-Kubernetes lane).
#
# Needs root; installs debootstrap when missing. Output of the commands: target/fresh-root/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. ci/apt.sh

suite=bookworm
cache=${NETVERDICT_FRESH_ROOT_CACHE:-/var/cache/netverdict/fresh-root-v1}
base=$cache/$suite-minbase
logs=$repo/target/fresh-root
# The README's commands, in order.
commands=("./ci/main.sh" "./ci/test.sh")

# The first URI of an enabled Debian source for $suite, as apt has it configured.
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; ok = 0; enabled = 1
        for (i = 1; i <= NF; i++) {
          split($i, f, /[ \t]+/)
          if (f[1] == "URIs:") uris = f[2]
          if (f[1] == "Enabled:" && f[2] == "no") enabled = 0
          if (f[1] == "Suites:") for (j = 2; j in f; j++) if (f[j] == suite) ok = 1
        }
        if (ok && enabled && uris != "") { print uris; exit }
      }' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v suite="$suite" '$1 == "deb" {
        n = 2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ }
        if ($(n + 1) == suite) { print $n; exit } }' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# The cached minimal root, made once (runs at the same time wait for each other).
ensure_base() {
  mkdir -p "$cache"
  (
    flock 9
    [ -e "$base.complete" ] && exit 0
    ensure_packages debootstrap
    local mirror
    mirror=$(debian_mirror)
    echo "fresh root: debootstrap --variant=minbase $suite from $mirror" >&2
    rm -rf "$base.tmp"
    debootstrap --variant=minbase "$suite" "$base.tmp" "$mirror" >"$logs/debootstrap.log" 2>&1 || {
      tail -n 20 "$logs/debootstrap.log" >&2
      exit 1
    }
    rm -rf "$base"
    mv "$base.tmp" "$base"
    touch "$base.complete"
  ) 9>"$cache/lock"
}

# Removes what runs that were killed without a chance to clean up left.
remove_dead_runs() {
  local dir pid
  for dir in "$cache"/runs/*/; do
    [ -d "$dir" ] || continue
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      rm -rf "$dir"
    fi
  done
}

# Copies rustup's active toolchain (without its HTML docs) and ~/.cargo/bin to $1/root.
copy_toolchain() {
  local dest=$1/root
  local rustup_home=${RUSTUP_HOME:-$HOME/.rustup} cargo_home=${CARGO_HOME:-$HOME/.cargo}
  local active
  active=$(cd "$repo" && rustup show active-toolchain | cut -d' ' -f1)
  mkdir -p "$dest/.rustup/toolchains" "$dest/.cargo"
  cp "$rustup_home/settings.toml" "$dest/.rustup/"
  tar -C "$rustup_home/toolchains" --dereference --exclude="$active/share/doc" -cf - "$active" |
    tar -C "$dest/.rustup/toolchains" -xf -
  cp -a "$cargo_home/bin" "$dest/.cargo/"
}

# Runs one README command inside the root; records "<command> <exit code> <seconds>".
run_command() {
  local root=$1 command=$2 log started code
  log=$logs/$(basename "$command" .sh).log
  started=$SECONDS
  echo "fresh root: $command ..." >&2
  code=0
  chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NETVERDICT_IN_FRESH_ROOT=1 CI="${CI:-}" \
    /bin/bash -c "cd /root/netverdict && $command" </dev/null >"$log" 2>&1 || code=$?
  echo "$command $code $((SECONDS - started))" >>"$run/results"
}

# The run itself, as PID 1 of its own PID namespace in a private mount namespace.
inside() {
  local root=$run/root head started=$SECONDS
  head=$(cat "$run/head")
  mount -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  copy_toolchain "$root"
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  # The same certificates as local ones, so that installing ca-certificates inside (which
  # rewrites the bundle from its own set and the local ones) keeps every one the machine trusts.
  local local_certs=$root/usr/local/share/ca-certificates/machine
  mkdir -p "$local_certs"
  awk -v dir="$local_certs" '
    /-----BEGIN CERTIFICATE-----/ { file = sprintf("%s/%03d.crt", dir, ++n) }
    file != "" { print > file }
    /-----END CERTIFICATE-----/ { close(file); file = "" }' /etc/ssl/certs/ca-certificates.crt
  cat /etc/resolv.conf >"$root/etc/resolv.conf.new"
  mv "$root/etc/resolv.conf.new" "$root/etc/resolv.conf"
  git clone -q --no-hardlinks --no-checkout "$repo" "$root/root/netverdict"
  git -C "$root/root/netverdict" checkout -q --detach "$head"
  echo "setup 0 $((SECONDS - started))" >>"$run/results"
  local command
  for command in "${commands[@]}"; do
    run_command "$root" "$command"
  done
}

# Checks, prepares, runs in the namespaces, reports, and removes the run's files.
main() {
  [ "$(id -u)" = 0 ] || { echo "ci/fresh-root.sh needs root" >&2; exit 2; }
  if [ -n "${NETVERDICT_IN_FRESH_ROOT:-}" ]; then
    echo "ci/fresh-root.sh does not nest (NETVERDICT_IN_FRESH_ROOT is set)" >&2
    exit 2
  fi
  ensure_packages git util-linux
  mkdir -p "$logs" "$cache/runs"
  # One run per checkout at a time: they share the logs.
  exec 8>"$logs/.lock"
  flock -n 8 || { echo "another ci/fresh-root.sh of this checkout is running" >&2; exit 2; }
  [ -z "$(git status --porcelain --untracked-files=no)" ] ||
    echo "fresh root: uncommitted changes are not part of the check (it clones HEAD)" >&2
  remove_dead_runs
  started=$SECONDS
  ensure_base
  prepared=$((SECONDS - started))

  run=$(mktemp -d "$cache/runs/run.XXXXXX")
  child=""
  cleanup() {
    # unshare ignores SIGTERM while it waits; SIGKILL ends it and, through --kill-child, the
    # namespace's first process, whose end ends every process inside.
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
      kill -KILL "$child" 2>/dev/null || true
      wait "$child" 2>/dev/null || true
    fi
    rm -rf "$run"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  echo $$ >"$run/pid"
  git rev-parse HEAD >"$run/head"
  mkdir "$run/upper" "$run/work" "$run/root"
  : >"$run/results"

  # --kill-child: if this script dies, the namespace's first process gets SIGKILL, and with it
  # every process inside.
  unshare --mount --propagation private --pid --fork --kill-child -- "$repo/ci/fresh-root.sh" --inside "$run" 8>&- &
  child=$!
  wait "$child" || { echo "fresh root: the run failed before its commands ended" >&2; }
  child=""

  local setup
  setup=$(awk '$1 == "setup" { print $3 }' "$run/results")
  echo "fresh root ($suite minbase, $(cut -c1-7 "$run/head")): base root ready in ${prepared} s, toolchain and clone in ${setup:-?} s"
  failed=0
  for command in "${commands[@]}"; do
    read -r _ code seconds < <(grep "^$command " "$run/results" || echo "$command none 0")
    log=$logs/$(basename "$command" .sh).log
    if [ "$code" = 0 ]; then
      echo "fresh root: $command passed in ${seconds} s"
    else
      failed=1
      echo "fresh root: $command FAILED (exit $code) after ${seconds} s; last lines of $log:"
      tail -n 40 "$log" 2>/dev/null | sed 's/^/    /'
    fi
  done
  exit "$failed"
}

# Everything is in functions, read before anything runs, and each branch exits: editing the file
# while it runs changes nothing of a run.
if [ "${1:-}" = --inside ]; then
  run=$2
  inside
  exit 0
fi
main "$@"
exit
