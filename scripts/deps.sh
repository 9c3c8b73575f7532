#!/usr/bin/env bash
# Installs what the integration suite uses, if missing: Debian's oathtool
# (TOTP codes as an authenticator app computes them), chromium (the headless
# browser of the sign-in page's and the console's tests, at /usr/bin/chromium)
# and npm, with which scripts/ui-deps.sh fetches axe-core into the cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
missing=()
command -v oathtool >/dev/null || missing+=(oathtool)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing ${missing[*]} from Debian's packages" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
"$root/scripts/ui-deps.sh" >/dev/null
