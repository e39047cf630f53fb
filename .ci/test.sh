#!/usr/bin/env bash
# Quick start, step 2: the whole test suite.
#   1. build/: unit tests (Catch2) and lit tests;
#   2. build-asan/: the same under AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. build-fuzz/: the spec parser under libFuzzer for MIXC_FUZZ_SECONDS (60).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$root/.ci/install-deps.sh"
lit=/usr/lib/llvm-22/bin/lit

echo "== build and test (build/)"
build "$root/build"
"$root/build/bin/mixc-unit-tests"
"$lit" -sv "$root/build/test/lit"

echo "== ASan + UBSan (build-asan/)"
# -O1 -g1 (line tables: symbolized reports): the sanitizers' usual level; at
# -O2 -g the MLIR-heavy sources took the host compiler twice as long.
build "$root/build-asan" -DMIXC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
# allow_user_poisoning=0: MLIR's prebuilt (unsanitized) libraries and our
# sanitized objects share inline LLVM templates (an attribute's registration
# instantiates SmallVector's move assignment in the dialect's object, which
# the linker then uses for MLIR's own types too); that copy reports memory
# that LLVM's bump allocator poisoned for itself as use-after-poison. mixc
# poisons nothing by hand; every other ASan check stays on.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allow_user_poisoning=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$root/build-asan/bin/mixc-unit-tests"
"$lit" -sv "$root/build-asan/test/lit"
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzzing the spec parser (build-fuzz/)"
build "$root/build-fuzz" -DMIXC_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
corpus="$root/build-fuzz/corpus"
mkdir -p "$corpus"
cp "$root"/examples/*.mixer "$root"/test/fuzz/regressions/* "$root"/test/fuzz/seeds/* "$corpus/"
"$root/build-fuzz/test/fuzz/spec-parser-fuzzer" "$corpus" -max_total_time="${MIXC_FUZZ_SECONDS:-60}" \
  -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 12
echo "== all tests passed"
