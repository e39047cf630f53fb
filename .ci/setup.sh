#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build, and run the main job on
# a shipped example: compile the spec, run it on generated inputs, check the
# result against the independent attention form, print what it did.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$root/.ci/install-deps.sh"
build "$root/build"
echo
"$root/build/bin/mixc" check "$root/examples/gated_deltanet.mixer"
"$root/build/bin/mixc" run "$root/examples/gated_deltanet.mixer" --target=reference \
  --shape B=2,T=256,H=4,K=64,V=64 --with-init --out "$root/build/out/gated_deltanet"
