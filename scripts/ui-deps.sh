#!/usr/bin/env bash
# Fetches axe-core, the accessibility checker the console's browser tests
# inject into the page, from the npm registry into the cache (once), and
# prints the path of its axe.min.js. The version is pinned and the tarball
# checked against its published integrity.
set -euo pipefail
version=4.14.1
integrity=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
cache="${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-identity}"
dir="$cache/axe-core-$version"
if [ ! -s "$dir/axe.min.js" ]; then
  command -v npm >/dev/null || { echo "the console's tests need npm to fetch axe-core (Debian's npm package)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetching axe-core $version from the npm registry into $dir" >&2
  (cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
  tgz="$tmp/axe-core-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$integrity" ] || { echo "axe-core $version: integrity $got, want $integrity" >&2; exit 1; }
  tar -xzf "$tgz" -C "$tmp" package/axe.min.js package/LICENSE
  mkdir -p "$dir"
  cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dir/"
fi
echo "$dir/axe.min.js"
