# Thin driver over CMake/CTest. The real build lives in CMakeLists.txt.
#   make            build everything into build/ (programs in build/bin/)
#   make demo       install what is missing, build, run the main job
#   make check      install what is missing, build, run every test and the
#                   style check (scripts/style.sh)
#   make bench      print performance figures
#   make bench-fleet  the whole service with N simulated hosts (minutes; not in check)
#   make bench-fleet-swarm HOSTS=N [INTERVAL=S]  the verifier with N emulated hosts
#                   (attest-swarm; default 10,000 hosts, 60 s; minutes; not in check)
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make install    install the programs, the agent's systemd unit and the
#                   (empty) certified TPM list directory under PREFIX
#   make format     reformat the C files to .clang-format
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build build-asan deps check demo bench bench-fleet bench-fleet-swarm fuzz clean format install

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

bench-fleet-swarm: build
	@HOSTS=$(or $(HOSTS),10000) INTERVAL=$(or $(INTERVAL),60) bash scripts/bench-fleet-swarm.sh $(BUILD)

fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTEST_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Reformat every C file git tracks (.clang-format); make check checks it.
format:
	@bash scripts/style.sh --fix

PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/attest/tpm-cas \
		$(DESTDIR)/etc/systemd/system
	install -m 0755 $(BUILD)/bin/attest-agent $(BUILD)/bin/attest-verifier \
		$(BUILD)/bin/attestctl $(BUILD)/bin/attest-sim $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 contrib/attest-agent.service $(DESTDIR)/etc/systemd/system/
	@echo "installed; add your TPM vendors' EK CA certificates with"
	@echo "  scripts/install-tpm-cas.sh --dest $(DESTDIR)$(PREFIX)/share/attest/tpm-cas FILE_OR_DIR..."

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
