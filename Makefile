# Thin driver over CMake/CTest. The real build lives in CMakeLists.txt.
#   make            build everything into build/ (programs in build/bin/)
#   make demo       install what is missing, build, run the main job
#   make check      install what is missing, build, run every test and the
#                   style check (scripts/style.sh)
#   make bench      print performance figures
#   make bench-fleet  the whole service with N simulated hosts (minutes; not in check)
#   make bench-dashboard  the dashboard's fleet view at DASH_HOSTS hosts (default 10000)
#   make bench-fleet-swarm HOSTS=N [INTERVAL=S]  the verifier with N emulated hosts
#   make bench-push [AGENTS="1000 5000"]  verifier memory per connected pushing agent
#                   (attest-swarm; default 10,000 hosts, 60 s; minutes; not in check)
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make install    install the programs, manual pages, bash completion, the
#                   systemd units, /etc/attest/*.conf (kept if present) and the
#                   (empty) certified TPM list directory under PREFIX
#   make format     reformat the C files to .clang-format
#   make deb        Debian packages attest-agent, attest-verifier, attestctl
#                   into build/deb/ (dpkg-buildpackage on a copy; lintian)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build build-asan deps check demo bench bench-fleet bench-fleet-swarm bench-push bench-dashboard fuzz clean format install deb

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATTEST_SANITIZE=ON >/dev/null

build-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

deps:
	@bash scripts/install-deps.sh

check: deps
	@bash scripts/check.sh $(BUILD) $(ASAN_BUILD)

demo: deps build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash scripts/bench.sh $(BUILD)

bench-fleet: build
	@bash scripts/bench-fleet.sh $(BUILD)

bench-push: build
	@AGENTS="$(or $(AGENTS),1000 5000)" bash scripts/bench-push.sh $(BUILD)

bench-dashboard: build
	@ATTEST_BIN=$(BUILD)/bin bash tests/integration/test_dashboard.sh --bench $(or $(DASH_HOSTS),10000)

bench-fleet-swarm: build
	@HOSTS=$(or $(HOSTS),10000) INTERVAL=$(or $(INTERVAL),60) bash scripts/bench-fleet-swarm.sh $(BUILD)

fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTEST_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

deb: deps
	@bash scripts/build-deb.sh $(BUILD)/deb

# Reformat every C file git tracks (.clang-format); make check checks it.
format:
	@bash scripts/style.sh --fix

PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/attest/tpm-cas \
		$(DESTDIR)/etc/systemd/system $(DESTDIR)/etc/attest \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(BUILD)/bin/attest-agent $(BUILD)/bin/attest-verifier \
		$(BUILD)/bin/attestctl $(BUILD)/bin/attest-sim $(DESTDIR)$(PREFIX)/bin/
	python3 scripts/gen-man.py --bin $(BUILD)/bin --out $(BUILD)/man
	install -m 0644 $(BUILD)/man/attestctl.1 $(BUILD)/man/attest-sim.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(BUILD)/man/attest-agent.8 $(BUILD)/man/attest-verifier.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	python3 scripts/gen-completion.py $(BUILD)/bin/attestctl \
		> $(DESTDIR)$(PREFIX)/share/bash-completion/completions/attestctl
	for u in attest-agent attest-verifier; do \
		sed 's|/usr/bin/attest-|$(PREFIX)/bin/attest-|g' contrib/$$u.service \
			> $(DESTDIR)/etc/systemd/system/$$u.service; done
	# the configuration files are the operator's: never overwritten
	test -e $(DESTDIR)/etc/attest/agent.conf || install -m 0644 contrib/agent.conf $(DESTDIR)/etc/attest/
	test -e $(DESTDIR)/etc/attest/verifier.conf || \
		sed 's|^CA_DIR=.*|CA_DIR=$(PREFIX)/share/attest/tpm-cas|' contrib/verifier.conf \
			> $(DESTDIR)/etc/attest/verifier.conf
	@echo "installed; add your TPM vendors' EK CA certificates with"
	@echo "  scripts/install-tpm-cas.sh --dest $(DESTDIR)$(PREFIX)/share/attest/tpm-cas FILE_OR_DIR..."

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
