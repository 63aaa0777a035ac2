#!/usr/bin/env bash
# Makes `promtool` available without installing or starting anything, and prints its path.
#
# 1. `promtool` on PATH (or $PROMTOOL) wins.
# 2. Otherwise Debian's `prometheus` package (bookworm: 2.42.0, which ships /usr/bin/promtool; there is no
#    separate promtool package) is fetched with `apt-get download` into a cache directory and unpacked
#    with `dpkg -x`: no dpkg database change, no service started, nothing outside the cache touched.
#    If the download fails because the package lists are missing or stale, `apt-get update` is run once
#    (needs root, as on the project's machines) and the download retried.
#
# Cache: $CDR_PROMTOOL_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/cdr-pipeline/prometheus.
# Output: the absolute path of a working promtool on stdout; progress on stderr. Exit 1 if none.
set -euo pipefail

log() { printf 'promtool.sh: %s\n' "$*" >&2; }

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${PROMTOOL:-}" ] && works "$PROMTOOL"; then
  printf '%s\n' "$PROMTOOL"
  exit 0
fi

if found="$(command -v promtool 2>/dev/null)" && works "$found"; then
  printf '%s\n' "$found"
  exit 0
fi

cache="${CDR_PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdr-pipeline/prometheus}"
bin="$cache/root/usr/bin/promtool"
if works "$bin"; then
  printf '%s\n' "$bin"
  exit 0
fi

for tool in apt-get dpkg; do
  command -v "$tool" >/dev/null 2>&1 || { log "no promtool on PATH and no $tool to fetch Debian's prometheus package"; exit 1; }
done

mkdir -p "$cache/debs"
download() {
  # apt-get download writes into the current directory; a subshell keeps the caller's cwd. As root, apt
  # would drop to its _apt sandbox user, which cannot write into a private cache dir (a warning, then a
  # fallback); say so up front instead.
  local sandbox=()
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  (cd "$cache/debs" && apt-get download -q "${sandbox[@]}" prometheus >&2)
}

if ! download; then
  log "apt-get download failed; running apt-get update and retrying"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -q >&2 || true
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n apt-get update -q >&2 || true
  fi
  download || { log "could not download Debian's prometheus package"; exit 1; }
fi

deb="$(ls -1t "$cache"/debs/prometheus_*.deb 2>/dev/null | head -n 1)"
[ -n "$deb" ] || { log "no prometheus_*.deb in $cache/debs after download"; exit 1; }

# Unpack into a temporary directory and move it into place, so an interrupted run never leaves a
# half-extracted tree that later runs would trust.
tmp="$(mktemp -d "$cache/root.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
dpkg -x "$deb" "$tmp"
works "$tmp/usr/bin/promtool" || { log "$deb does not contain a working usr/bin/promtool"; exit 1; }
rm -rf "$cache/root"
mv "$tmp" "$cache/root"
trap - EXIT
log "extracted $(basename "$deb") into $cache/root"
printf '%s\n' "$bin"
