# coin-predict: the two commands (make demo, make test) and a few helpers.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DCOIN_WERROR=ON
endif

.PHONY: all deps build test test-unit test-asan test-valgrind demo demo-stop format format-check clean
.PHONY: fuzz fuzz-smoke

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE case

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit -LE case

# Sanitizer build (ASan + UBSan) in its own tree; runs the unit tests.
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCOIN_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -L unit -LE case

# Unit tests under valgrind memcheck (reuses the build tree of make test).
test-valgrind: build
	@./scripts/valgrind-unit.sh $(BUILD_DIR)

# Coverage-guided fuzzing (clang + libFuzzer, tree build-fuzz; not part of
# test): every target FUZZ_SECONDS (120) on its corpus, one after another.
# fuzz-smoke: 10 s each. See tests/fuzz/README.md.
FUZZ_SECONDS ?= 120
fuzz:
	JOBS=$(JOBS) ./tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	JOBS=$(JOBS) ./tests/fuzz/run.sh 10

demo: build
	@./scripts/demo.sh start

demo-stop:
	@./scripts/demo.sh stop

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz
