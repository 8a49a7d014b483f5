# Cairn's two front doors: `make demo` runs the product, `make test` runs every
# test (the same command CI runs). Both work on a fresh Debian 12 machine with
# only the Rust toolchain: `scripts/install-deps` installs the rest.

CARGO ?= cargo
DEMO_DIR ?= ./cairn-data
DEMO_LISTEN ?= 127.0.0.1:8080

.PHONY: all build test test-repeat fmt fmt-check lint unit browser e2e e2e-selftest deps demo reference deb deb-check package-check docs-check docs docs-watch screenshots screenshots-check clean help bench bench-quick chaos fuzz

all: build

help:
	@echo "make demo   - server + approved local agent + local repository + a first backup, on $(DEMO_LISTEN)"
	@echo "make test   - formatting, clippy (warnings are errors) and every test, browser tests last"
	@echo "make browser - the browser tests alone (e2e/run: Playwright + Chromium against a real server and agent); make e2e is the same"
	@echo "make e2e-selftest - a deliberately broken assertion fails the e2e run and leaves its artefacts"
	@echo "make test-repeat - the whole CI from fresh clones, 5 times in a row (RUNS=n for another count)"
	@echo "make build  - build the cairn binary"
	@echo "make fmt    - format the code"
	@echo "make deb   - the .deb (server, agent, units, completions, man pages) into target/debian/; deb-check runs lintian"
	@echo "make reference - regenerate the book's command-line and example-config pages from the binary"
	@echo "make docs   - build the book into docs/book/book (make docs-watch serves it)"
	@echo "make screenshots - the README's six images, captured live from a fresh server (Playwright) into docs/screenshots/"
	@echo "make bench  - the benchmark suite on a release build, each row beside a reference; writes the book's table"
	@echo "make chaos  - the long fault suite: 200 server kill -9 cycles under real backups (CHAOS_CYCLES=n, CAIRN_CHAOS_SEED=s replays)"
	@echo "make fuzz   - cargo-fuzz on every decoder of outside bytes, FUZZ_SECONDS (60) each; crashes are kept as regression tests"
	@echo "make bench-quick - a smaller benchmark suite, a few minutes (BENCH_ONLY=B0,B4 for some)"

deps:
	@scripts/install-deps

build: deps
	$(CARGO) build -p cairn

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

# The browser tests: Playwright driving Debian's Chromium against a real
# server, agent, restic and REST server. e2e/run installs what it needs;
# artefacts (screenshots, logs, traces) land in e2e/artifacts/.
browser:
	CARGO=$(CARGO) e2e/run

# The same suite under the name the end-to-end docs use.
e2e: browser

# The runner's own check: a deliberately broken assertion must fail the run
# and leave its screenshot, trace and logs behind (e2e/selftest).
e2e-selftest:
	CARGO=$(CARGO) e2e/selftest

test: deps fmt-check lint unit package-check docs-check e2e-selftest screenshots-check browser

# The whole CI from fresh clones of HEAD, several times in a row: flaky tests
# show up here, not in CI.
test-repeat:
	@scripts/test-repeat

# Benchmarks: never part of `make test` (they do not gate CI). They measure
# the release build, which is what ships; `make bench` writes its table into
# the book's performance chapter. BENCH_ONLY=B0,B6 runs some of them.
BENCH_ONLY ?=
# Any other cairn-bench flags (BENCH_ARGS=--ingest-seconds=300).
BENCH_ARGS ?=
BENCH_FLAGS = $(if $(BENCH_ONLY),--only $(BENCH_ONLY)) $(BENCH_ARGS)

bench: deps
	$(CARGO) build --release -p cairn -p cairn-bench
	target/release/cairn-bench $(BENCH_FLAGS) --book docs/book/src/performance.md

bench-quick: deps
	$(CARGO) build --release -p cairn -p cairn-bench
	target/release/cairn-bench --quick $(BENCH_FLAGS)

# The long fault series; `make test` runs a short one of each suite. The
# seed is printed: CAIRN_CHAOS_SEED=<seed> make chaos replays a failure.
CHAOS_CYCLES ?= 200

chaos: deps
	CAIRN_CHAOS_CYCLES=$(CHAOS_CYCLES) $(CARGO) test -p cairn --test it chaos_ -- --nocapture --test-threads=1

# Coverage-guided fuzzing (never part of `make test`, which replays the
# seeds and every kept crash on the stable toolchain: crates/cairn-fuzz).
fuzz: deps
	@scripts/fuzz

demo: build
	@echo "Starting the Cairn demo on http://$(DEMO_LISTEN) with everything in $(DEMO_DIR). Ctrl-C stops it."
	@echo "It approves a local agent, makes a local repository and runs a first backup; open the printed setup link to sign in."
	$(CARGO) run -q -p cairn -- demo --listen $(DEMO_LISTEN) --data-dir $(DEMO_DIR)

MDBOOK_VERSION ?= 0.5.4
# The pinned mdbook, fetched (checksum-checked) into target/tools/ when missing.
MDBOOK = $(shell MDBOOK_VERSION=$(MDBOOK_VERSION) scripts/install-mdbook)

# The .deb (release build) into target/debian/; deb-check also inspects it
# and runs lintian (no errors allowed). make test checks the package made
# from the debug build, to spare CI a release compile.
deb: deps
	CARGO=$(CARGO) packaging/deb/build

deb-check: deps
	CARGO=$(CARGO) packaging/deb/build --check

package-check: deps
	CARGO_PROFILE=dev CARGO=$(CARGO) packaging/deb/build --check

# The book's generated reference pages, made again from the binary.
reference:
	CAIRN_BLESS=1 $(CARGO) test -p cairn --test it -- reference::

docs:
	$(MDBOOK) build docs/book

# The book builds with no warning (a missing chapter, a broken include):
# part of make test.
docs-check:
	@mdbook="$(MDBOOK)"; [ -x "$$mdbook" ] || { echo "docs-check: no mdbook"; exit 1; }; \
	out=$$("$$mdbook" build docs/book 2>&1) || { echo "$$out"; exit 1; }; echo "$$out"; \
	if echo "$$out" | grep -E 'WARN|ERROR'; then echo "docs-check: mdbook warned"; exit 1; fi

docs-watch:
	$(MDBOOK) serve docs/book

# The README's six screenshots (login, dashboard, add-host, alerts, settings,
# audit log), captured from a fresh server bootstrap by the readme project of
# the browser suite. screenshots-check, in make test, captures them into a
# scratch directory so the command cannot rot; it runs before `browser`,
# which starts from clean artefacts.
screenshots:
	CARGO=$(CARGO) CAIRN_E2E_README=1 e2e/run --project=readme

screenshots-check:
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; 	CARGO=$(CARGO) CAIRN_E2E_README=1 CAIRN_E2E_README_OUT="$$out" e2e/run --project=readme && 	n=$$(ls "$$out"/*.png | wc -l) && [ "$$n" -eq 6 ] || { echo "screenshots-check: expected 6 images in $$out"; exit 1; }

clean:
	$(CARGO) clean
