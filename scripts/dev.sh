#!/usr/bin/env bash
# Starts a Vault dev server on loopback with this plugin registered and
# enabled, prints how to use it, and stops the server (by its PID) on Ctrl-C.
#
#   scripts/dev.sh              run in the foreground until interrupted
#   scripts/dev.sh --background leave the server running; scripts/dev.sh --stop ends it
#
# Environment: VAULT_DEV_PORT (8200), MOUNT (ident), VERSION (plugin version).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=vault-plugin-secrets-identity
port=${VAULT_DEV_PORT:-8200}
mount=${MOUNT:-ident}
state="$root/.dev"
pidfile="$state/vault.pid"

stop() {
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      echo "stopped Vault dev server (pid $pid)"
    fi
    rm -f "$pidfile"
  fi
}

mode=foreground
case "${1:-}" in
  --background) mode=background ;;
  --stop) stop; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--background|--stop]" >&2; exit 2 ;;
esac

vault=$("$root/scripts/vault.sh")
plugin="$root/bin/$name"
mkdir -p "$root/bin"
ln -sf "$vault" "$root/bin/vault"
[ -x "$plugin" ] || { echo "missing $plugin: run make build" >&2; exit 1; }

stop
mkdir -p "$state/plugins"
cp "$plugin" "$state/plugins/$name"
export VAULT_ADDR="http://127.0.0.1:$port"
export VAULT_TOKEN=root

"$vault" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
  -dev-plugin-dir="$state/plugins" -dev-plugin-init=false >"$state/vault.log" 2>&1 &
echo $! >"$pidfile"
trap stop EXIT  # also on a failed start; background mode clears it on success
[ "$mode" = foreground ] && trap 'exit 0' INT TERM

# Poll until the server answers, giving up after 60 seconds.
deadline=$((SECONDS + 60))
until "$vault" status >/dev/null 2>&1; do
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    echo "Vault did not start; see $state/vault.log" >&2
    tail -20 "$state/vault.log" >&2
    exit 1
  fi
  sleep 0.2
done

sha=$(sha256sum "$state/plugins/$name" | cut -d' ' -f1)
"$vault" plugin register -sha256="$sha" ${VERSION:+-version="$VERSION"} -env="VAULT_API_ADDR=$VAULT_ADDR" secret "$name" >/dev/null
"$vault" secrets enable -path="$mount" -plugin-name="$name" \
  -passthrough-request-headers=Authorization \
  -allowed-response-headers=Content-Security-Policy -allowed-response-headers=X-Frame-Options \
  -allowed-response-headers=X-Content-Type-Options -allowed-response-headers=Referrer-Policy \
  ${VERSION:+-plugin-version="$VERSION"} plugin >/dev/null

cat <<MSG
Vault dev server running (pid $(cat "$pidfile"), log $state/vault.log)
with $name ${VERSION:-} enabled at $mount/.

  Admin console: $VAULT_ADDR/v1/$mount/ui/ (sign in with the token root)

  export PATH="$root/bin:\$PATH" VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root

  vault write $mount/entity name=alice policies=default metadata=team=dev
  vault read $mount/entity/name/alice
  vault list $mount/entity/id

The built-in engine is at identity/ for comparison.
MSG

if [ "$mode" = foreground ]; then
  echo "Press Ctrl-C to stop."
  wait "$(cat "$pidfile")"
else
  echo "Stop it with: make dev-stop"
  trap - EXIT
fi
