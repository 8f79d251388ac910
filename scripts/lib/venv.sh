# shellcheck shell=bash disable=SC2034
# scripts/lib/venv.sh: the Python virtualenv at the repository root (.venv)
# holding the real OpenStack clients (and, for scripts/test, pytest).
# Source after common.sh. `ensure_venv REQUIREMENTS_FILE...` creates the venv
# if needed and pip-installs each requirements file once: a stamp with the
# file's checksum makes later runs a no-op until the file changes.

NIMBUS_VENV="$NIMBUS_ROOT/.venv"
NIMBUS_CLIENT_REQUIREMENTS="$NIMBUS_ROOT/scripts/lib/requirements-clients.txt"

_venv_works() {
  [ -x "$NIMBUS_VENV/bin/python" ] && "$NIMBUS_VENV/bin/python" -c 'import sys, venv' 2>/dev/null
}

_venv_create() {
  local py
  py="$(command -v python3 || true)"
  if [ -z "$py" ]; then
    ensure_apt_packages python3 python3-venv
    py=/usr/bin/python3
  fi
  log "creating Python venv $NIMBUS_VENV with $py"
  rm -rf "$NIMBUS_VENV"
  if ! "$py" -m venv "$NIMBUS_VENV" >/dev/null 2>&1; then
    # Debian's python3 lacks ensurepip until python3-venv is installed.
    rm -rf "$NIMBUS_VENV"
    ensure_apt_packages python3 python3-venv
    [ -x /usr/bin/python3 ] && py=/usr/bin/python3
    "$py" -m venv "$NIMBUS_VENV" || die "could not create the venv with $py"
  fi
  "$NIMBUS_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
}

ensure_venv() {
  _venv_works || _venv_create
  local req key sum
  for req in "$@"; do
    req="$(realpath "$req")"
    key="$(printf '%s' "${req#"$NIMBUS_ROOT"/}" | tr '/' '_')"
    sum="$(sha256sum "$req" | cut -c1-16)"
    [ -e "$NIMBUS_VENV/.installed-$key@$sum" ] && continue
    log "pip install -r ${req#"$NIMBUS_ROOT"/}"
    "$NIMBUS_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    rm -f "$NIMBUS_VENV/.installed-$key@"*
    touch "$NIMBUS_VENV/.installed-$key@$sum"
  done
}
