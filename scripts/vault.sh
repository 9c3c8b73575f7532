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
  echo "building Vault $version from the Go module proxy into $bin (about 5 minutes, once)" >&2
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
