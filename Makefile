NAME    := vault-plugin-secrets-identity
VERSION ?= 0.7.0
PKG     := github.com/vault-identity/vault-plugin-secrets-identity
LDFLAGS := -X $(PKG)/plugin.Version=v$(VERSION)
BIN     := bin/$(NAME)
TESTARGS ?=

.PHONY: default build dev dev-background dev-stop vault deps test test-unit test-integration bench fmt fmtcheck vet

default: build

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/$(NAME)

# The Vault server binary, built once from tools/vault and cached.
vault:
	@scripts/vault.sh >/dev/null

# Debian packages the tests use (oathtool, chromium).
deps:
	@scripts/deps.sh

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
	VAULT_BIN=$$(scripts/vault.sh) PLUGIN_BIN=$(CURDIR)/$(BIN) PLUGIN_VERSION=v$(VERSION) \
		go test -tags integration -count=1 -timeout 20m $(TESTARGS) ./integration/...

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
