#!/usr/bin/env bash
# Vault 1.20 cannot be built from the Go module proxy as it is: every 1.20
# tag builds against the sdk of its own release branch, which was never
# published. That sdk is v0.18.0 plus two additions published only in
# v0.19.0 (PluginRunner.Download, the SLH-DSA key types), and v0.19.0 in
# turn has KeyType.IsEnterpriseOnly (the post-quantum types and the other
# types the community edition refuses) instead of IsPQC, and gives
# connutil.GetCloudSQLAuthOptions a third argument (usePSC), and adds
# GetRotationInformation to logical.SystemView.
#
# This module pins sdk v0.19.0, and this script adapts a copy of the Vault
# module to it: Vault's three call sites of those two functions (transit's
# check of enterprise-only key types; MySQL's Cloud SQL options, with usePSC
# false as 1.20 behaves), and a GetRotationInformation for Vault's system
# view that answers that 1.20 has no rotation information (no built-in
# engine of 1.20 asks for it; a plugin that did would get that error). It
# writes a go.mod that replaces the Vault module with the copy, for go build
# -modfile. Nothing the plugin or its tests use is touched.
#
# Run from the module's directory with an empty work directory as argument;
# prints the path of the go.mod to build with.
set -euo pipefail
work=$1
go mod download github.com/hashicorp/vault
from=$(go list -m -f '{{.Dir}}' github.com/hashicorp/vault)
copy="$work/vault"
cp -al "$from" "$copy" 2>/dev/null || cp -a "$from" "$copy"
# The copy's directories are its own (only files are linked): writable, so
# that the files below can be replaced and the copy removed.
find "$copy" -type d -exec chmod u+w {} +
adapt() { # file, sed expression, what the file must then contain
  local file="$copy/$1"
  sed "$2" "$from/$1" >"$file.new"
  if ! grep -qF "$3" "$file.new" || cmp -s "$from/$1" "$file.new"; then
    echo "adapt.sh: $1 no longer has the call this script adapts; update tools/vault-1.20/adapt.sh" >&2
    exit 1
  fi
  rm "$file"
  mv "$file.new" "$file"
}
adapt builtin/logical/transit/backend.go 's/p\.Type\.IsPQC()/p.Type.IsEnterpriseOnly()/' 'p.Type.IsEnterpriseOnly()'
adapt builtin/logical/transit/path_keys.go 's/polReq\.KeyType\.IsPQC()/polReq.KeyType.IsEnterpriseOnly()/' 'polReq.KeyType.IsEnterpriseOnly()'
adapt plugins/database/mysql/connection_producer.go 's/GetCloudSQLAuthOptions(credentials, false)/GetCloudSQLAuthOptions(credentials, false, false)/' 'GetCloudSQLAuthOptions(credentials, false, false)'
cat >"$copy/vault/dynamic_system_view_rotation.go" <<'GO'
package vault

import (
	"context"
	"errors"

	"github.com/hashicorp/vault/sdk/rotation"
)

// GetRotationInformation is part of logical.SystemView in sdk v0.19.0, which
// this build of Vault 1.20 uses; Vault 1.20 keeps no rotation information.
func (d dynamicSystemView) GetRotationInformation(context.Context, *rotation.RotationInfoRequest) (*rotation.RotationInfoResponse, error) {
	return nil, errors.New("rotation information is not available in this build of Vault 1.20")
}
GO
cp go.sum "$work/go.sum"
{
  cat go.mod
  echo
  echo "replace github.com/hashicorp/vault => $copy"
} >"$work/go.mod"
echo "$work/go.mod"
