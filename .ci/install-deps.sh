#!/usr/bin/env bash
# Installs what mixc needs on Debian 12 (as root), skipping what is present:
# LLVM/MLIR 22 (bookworm-security), Catch2 v2, fmt, Ninja, clang for the
# fuzzer, and NumPy (PyPI, pinned in .ci/requirements.txt) for the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

pkgs=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools libfmt-dev catch2 ninja-build cmake g++
      clang-14 libclang-rt-14-dev python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ! python3 -c "import numpy" 2>/dev/null && [ ! -x "$root/.venv/bin/python" ]; then
  dpkg -s python3-venv >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "mixc: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# NumPy: use the system Python's if it has one, else a venv in .venv.
if ! python3 -c "import numpy" 2>/dev/null && [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/python" -m pip install -q -r "$here/requirements.txt"
fi
