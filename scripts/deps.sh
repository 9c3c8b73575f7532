#!/usr/bin/env bash
# Installs the Debian packages the integration suite uses, if missing:
# oathtool (TOTP codes as an authenticator app computes them) and chromium
# (the headless browser of the sign-in page's test, at /usr/bin/chromium).
set -euo pipefail
missing=()
command -v oathtool >/dev/null || missing+=(oathtool)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing ${missing[*]} from Debian's packages" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
