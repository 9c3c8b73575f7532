#!/usr/bin/env bash
# Prints the path of the Vault server binary used by the dev loop and the
# integration tests, building it from tools/vault first if the cache lacks it.
# The cache key is a hash of tools/vault's pins, so a pin change rebuilds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tools/vault"
key=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
version=$(awk '$1=="require" && $2=="github.com/hashicorp/vault" {print $3}' "$src/go.mod")
cache="${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-identity}"
bin="$cache/vault-$version-$key"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  echo "building Vault $version from the Go module proxy into $bin, once:" >&2
  echo "  15 to 25 minutes on 2 cores with empty Go caches (downloads, then compiling ~2,000 packages); about a minute when Go's build cache has them" >&2
  start=$(date +%s)
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .) &
  build=$!
  # A line every 30 s: the compile phase prints nothing for minutes.
  while kill -0 "$build" 2>/dev/null; do
    for _ in $(seq 30); do
      kill -0 "$build" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$build" 2>/dev/null; then
      elapsed=$(($(date +%s) - start))
      echo "  still building Vault: $((elapsed / 60)) min $((elapsed % 60)) s so far" >&2
    fi
  done
  wait "$build"
  mv "$bin.tmp" "$bin"
  elapsed=$(($(date +%s) - start))
  echo "built Vault $version in $((elapsed / 60)) min $((elapsed % 60)) s" >&2
fi
echo "$bin"
