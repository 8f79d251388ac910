# shellcheck shell=bash disable=SC2034
# scripts/lib/common.sh: helpers shared by scripts/start, scripts/stop and
# scripts/test: repository paths, logging, installing missing Debian packages
# and checking the Rust toolchain. Source it; it defines functions only.

NIMBUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Run a command as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt_packages PKG...: install the packages that are not installed yet.
# `apt-get update` runs only when something is missing, and at most once.
NIMBUS_APT_UPDATED=""
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
  log "installing Debian packages: ${missing[*]}"
  if [ -z "$NIMBUS_APT_UPDATED" ]; then
    as_root apt-get update -qq
    NIMBUS_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# What building the workspace needs on a fresh Debian 12.
ensure_build_deps() {
  ensure_apt_packages build-essential pkg-config ca-certificates curl
}

# What running servers needs: QEMU, qemu-img, genisoimage (config drives),
# dnsmasq (DHCP), iproute2 (namespaces, bridges, taps), the SSH client
# (`nimbus ssh`). qemu-system-x86 comes from bookworm-backports when qemu-utils
# does (the build machines ship qemu-utils 10.0.2 from there, and bookworm's
# qemu-system-x86 7.2 would downgrade it).
ensure_vm_deps() {
  ensure_apt_packages qemu-utils genisoimage dnsmasq-base iproute2 openssh-client nftables
  dpkg-query -W -f='${Status}' qemu-system-x86 2>/dev/null | grep -q 'install ok installed' && return 0
  if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo; then
    local src=/etc/apt/sources.list.d/nimbus-bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      log "adding the bookworm-backports apt source ($src)"
      printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
        'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
        as_root tee "$src" >/dev/null
    fi
    log "installing qemu-system-x86 from bookworm-backports"
    as_root apt-get update -qq
    NIMBUS_APT_UPDATED=1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports qemu-system-x86
  else
    ensure_apt_packages qemu-system-x86
  fi
}

# ensure_guest_image: build the default guest image (guest/build: cached, ~1 min
# the first time) and print its directory.
ensure_guest_image() {
  local out="$NIMBUS_ROOT/guest/.out"
  as_root "$NIMBUS_ROOT/guest/build" "$out" >&2
  echo "$out"
}

# ensure_rust [COMPONENT...]: cargo on PATH, plus rustup components (rustfmt, clippy).
ensure_rust() {
  if [ -d "$HOME/.cargo/bin" ]; then
    case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac
  fi
  command -v cargo >/dev/null ||
    die "cargo not found: install the Rust toolchain (rustup, Rust >= 1.85) and re-run"
  local comp sub
  for comp in "$@"; do
    sub="$comp"
    [ "$comp" = rustfmt ] && sub=fmt
    if ! cargo "$sub" --version >/dev/null 2>&1; then
      log "installing Rust component $comp"
      rustup component add "$comp"
    fi
  done
}

# free_port: print a TCP port that is free on 127.0.0.1 right now.
free_port() {
  local py
  py="$(command -v python3 || true)"
  if [ -n "$py" ]; then
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local port
    while :; do
      port=$((20000 + RANDOM % 30000))
      (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
        echo "$port"
        return
      }
    done
  fi
}
