#!/usr/bin/env bash
# Prints the path of the Vault server binary used by the dev loop and the
# integration tests, building it first if the cache lacks it.
#
# VAULT_VERSION selects the minor version: 1.21 (the default, tools/vault),
# 1.20 (tools/vault-1.20) or 1.19 (tools/vault-1.19). Each module pins the
# latest patch of its minor version that the Go module proxy serves.
# The cache key is a hash of the module's pins (and of its adapt.sh, which
# adapts Vault's source to the pinned sdk where that is needed), so a
# change rebuilds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minor="${VAULT_VERSION:-1.21}"
case "$minor" in
  1.21) src="$root/tools/vault" ;;
  1.20 | 1.19) src="$root/tools/vault-$minor" ;;
  *)
    echo "VAULT_VERSION=$minor: supported versions are 1.19, 1.20 and 1.21" >&2
    exit 2
    ;;
esac
key=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" $([ -f "$src/adapt.sh" ] && echo "$src/adapt.sh") | sha256sum | cut -c1-16)
version=$(awk '$1=="require" && $2=="github.com/hashicorp/vault" {print $3}' "$src/go.mod")
cache="${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-identity}"
bin="$cache/vault-$version-$key"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  echo "building Vault $version from the Go module proxy into $bin, once:" >&2
  echo "  about 15 minutes on 2 idle cores with empty Go caches (downloads, then compiling ~2,000 packages), up to 25 on a busy machine," >&2
  echo "  as long again for each other version (they pin other versions of most dependencies);" >&2
  echo "  about a minute when Go's build cache has the packages" >&2
  start=$(date +%s)
  flags=()
  if [ -f "$src/adapt.sh" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    flags=(-modfile="$(cd "$src" && bash adapt.sh "$work")")
  fi
  (cd "$src" && CGO_ENABLED=0 go build -trimpath "${flags[@]}" -o "$bin.tmp.$$" .) &
  build=$!
  # A line every 30 s: the compile phase prints nothing for minutes.
  while kill -0 "$build" 2>/dev/null; do
    for _ in $(seq 30); do
      kill -0 "$build" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$build" 2>/dev/null; then
      elapsed=$(($(date +%s) - start))
      echo "  still building Vault $version: $((elapsed / 60)) min $((elapsed % 60)) s so far" >&2
    fi
  done
  wait "$build"
  mv "$bin.tmp.$$" "$bin"
  elapsed=$(($(date +%s) - start))
  echo "built Vault $version in $((elapsed / 60)) min $((elapsed % 60)) s" >&2
fi
echo "$bin"
