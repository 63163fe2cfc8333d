# ge_security: every target is idempotent and works on a fresh Debian 12 machine with Rust.
SHELL        := /bin/bash
PG_CONFIG    ?= /usr/bin/pg_config
PGRX_VERSION := 0.18.0
PGRX_PGDATA  ?= /tmp/ge_security_pgrx_data
APT_PACKAGES := postgresql-15 postgresql-server-dev-15 postgresql-contrib-15 postgresql-15-pgaudit libclang-dev clang sudo openssl python3 chromium prometheus-postgres-exporter curl python3-jsonschema
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH  := $(HOME)/.cargo/bin:$(PATH)

.PHONY: deps install install-debug lint unit regress isolation scenarios test demo demo-stop bench docs-checks package

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust 1.95 (rustup)"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy
	@if ! cargo pgrx --version 2>/dev/null | grep -q " $(PGRX_VERSION)$$"; then \
	  cargo install cargo-pgrx --version $(PGRX_VERSION) --locked; fi
	@grep -qs '^pg15 *= *"$(PG_CONFIG)"' $(HOME)/.pgrx/config.toml || cargo pgrx init --pg15 $(PG_CONFIG)

install: deps
	cargo pgrx install --release --pg-config $(PG_CONFIG)

install-debug: deps
	cargo pgrx install --pg-config $(PG_CONFIG)

lint: deps
	cargo fmt --all -- --check
	cargo clippy --features pg_test -- -D warnings
	/usr/bin/python3 pg_test/check_release_metadata.py

unit: deps
	@$(SUDO) mkdir -p $(PGRX_PGDATA) && $(SUDO) chown postgres: $(PGRX_PGDATA)
	cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_PGDATA)

regress: install-debug
	bash pg_test/run_regress.sh

isolation: install-debug
	bash pg_test/run_isolation.sh

scenarios: install-debug
	bash pg_test/run_scenarios.sh

test: lint unit regress isolation scenarios
	@echo "make test: all suites passed"

# rewrites the check table of docs/sql_reference.md from checks() (regress 22_docs_checks)
docs-checks: install-debug
	bash pg_test/docs_checks.sh

demo: install
	bash demo/demo.sh

demo-stop:
	bash demo/demo.sh stop

bench: install
	@failed=""; for b in bench/*.sh; do echo "== $$b"; bash "$$b" || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "missed a target or failed:$$failed"; exit 1; fi

# The Debian package postgresql-15-ge-security_<version>_amd64.deb, in target/package/.
package: deps
	PG_CONFIG=$(PG_CONFIG) bash packaging/build_deb.sh
