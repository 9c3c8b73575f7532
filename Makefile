NAME    := vault-plugin-secrets-identity
VERSION ?= 0.7.0
PKG     := github.com/vault-identity/vault-plugin-secrets-identity
LDFLAGS := -X $(PKG)/plugin.Version=v$(VERSION)
BIN     := bin/$(NAME)
TESTARGS ?=
# The Vault minor version for vault, dev, test-integration and bench:
# 1.19, 1.20 or 1.21 (scripts/vault.sh's default, 1.21).
export VAULT_VERSION

.PHONY: default build dev dev-background dev-stop vault deps ui-deps test test-unit test-integration test-ui test-compat bench fmt fmtcheck vet

default: build

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/$(NAME)
	CGO_ENABLED=0 go build -trimpath -o bin/identity-migrate ./cmd/identity-migrate

# The Vault server binary of VAULT_VERSION, built once from tools/vault
# (1.21) or tools/vault-<version> and cached.
vault:
	@scripts/vault.sh >/dev/null

# What the tests use: Debian's oathtool, chromium and npm, and axe-core
# from the npm registry (cached).
deps:
	@scripts/deps.sh

# axe-core alone, for the console's accessibility checks.
ui-deps:
	@scripts/ui-deps.sh

dev: vault build
	VERSION=v$(VERSION) scripts/dev.sh

dev-background: vault build
	VERSION=v$(VERSION) scripts/dev.sh --background

dev-stop:
	scripts/dev.sh --stop

test: test-unit test-integration

# The unit tests with the race detector, then the store's and the paths'
# tests again in a build that checks the lock order at every acquisition.
test-unit:
	go test -race -count=1 $(TESTARGS) ./...
	go test -tags lockcheck -count=1 $(TESTARGS) ./backend/... ./paths/

test-integration: vault build deps
	VAULT_BIN=$$(scripts/vault.sh) PLUGIN_BIN=$(CURDIR)/$(BIN) PLUGIN_VERSION=v$(VERSION) AXE_JS=$$(scripts/ui-deps.sh) \
		go test -tags integration -count=1 -timeout 20m $(TESTARGS) ./integration/...

# The whole integration suite against Vault 1.19, 1.20 and 1.21 in turn,
# then a table of the results (COMPAT_VERSIONS picks fewer).
test-compat: build deps
	PLUGIN_BIN=$(CURDIR)/$(BIN) PLUGIN_VERSION=v$(VERSION) AXE_JS=$$(scripts/ui-deps.sh) \
		scripts/test-compat.sh $(TESTARGS)

# The admin console's browser tests only.
test-ui: vault build deps
	VAULT_BIN=$$(scripts/vault.sh) PLUGIN_BIN=$(CURDIR)/$(BIN) PLUGIN_VERSION=v$(VERSION) AXE_JS=$$(scripts/ui-deps.sh) \
		go test -tags integration -count=1 -timeout 20m -run 'UI' ./integration/...

bench: vault build
	go test -run '^$$' -bench . -benchmem ./backend/... ./paths/...
	VAULT_BIN=$$(scripts/vault.sh) PLUGIN_BIN=$(CURDIR)/$(BIN) PLUGIN_VERSION=v$(VERSION) \
		go run ./cmd/identity-bench $(BENCHARGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...
	go vet -tags integration ./integration/...
