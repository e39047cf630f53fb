#!/usr/bin/env bash
# Installs what mixc needs on Debian 12 (as root), skipping what is present:
# LLVM/MLIR 22 (bookworm-security), Catch2 v2, fmt, Ninja, clang for the
# fuzzer, NumPy, JAX and PyTorch (PyPI, pinned in .ci/requirements.txt)
# for the tests, and
# where available the aarch64 cross compiler and qemu-user.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

# libzstd-dev: LLVM's static LLVMSupport (under mixer-tblgen's TableGen
# libraries) links zstd; its CMake export names the target.
pkgs=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools libfmt-dev catch2 ninja-build cmake g++
      clang-14 libclang-rt-14-dev python3 libzstd-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ! python3 -c "import numpy, jax, torch, matplotlib" 2>/dev/null && [ ! -x "$root/.venv/bin/python" ]; then
  dpkg -s python3-venv >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "mixc: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Optional: Debian's aarch64 cross compiler and qemu-user, with which the
# suite also compiles every emitted CPU kernel for aarch64 and runs a few
# under emulation (test/lit/cpu/aarch64*.test; reported unsupported without).
optional=()
for p in g++-aarch64-linux-gnu qemu-user; do
  dpkg -s "$p" >/dev/null 2>&1 || optional+=("$p")
done
if [ ${#optional[@]} -gt 0 ]; then
  echo "mixc: installing ${optional[*]} (optional: the aarch64 tests)"
  { [ ${#missing[@]} -gt 0 ] || apt-get update -qq; } &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
    echo "mixc: WARNING: could not install ${optional[*]}; the aarch64 tests will be reported unsupported" >&2
fi

# NumPy, JAX and PyTorch: the system Python's if it has all three, else a venv in .venv
# (made once; the pinned packages installed into it where one is missing).
if ! python3 -c "import numpy, jax, torch, matplotlib" 2>/dev/null; then
  [ -x "$root/.venv/bin/python" ] || python3 -m venv "$root/.venv"
  "$root/.venv/bin/python" -c "import numpy, jax, torch, matplotlib" 2>/dev/null ||
    "$root/.venv/bin/python" -m pip install -q -r "$here/requirements.txt"
fi

# CUDA 13 (nvcc, for compiling the generated GPU kernels; no GPU needed): the
# toolkit is expected at /usr/local/cuda. Where it is missing, NVIDIA's Debian
# 12 repository provides the compiler and the runtime headers.
nvcc="${NVCC:-/usr/local/cuda/bin/nvcc}"
if [ ! -x "$nvcc" ] && ! command -v nvcc >/dev/null; then
  echo "mixc: installing the CUDA 13 compiler from NVIDIA's repository"
  if (cd /tmp && curl -fsSLO https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb &&
      dpkg -i cuda-keyring_1.1-1_all.deb >/dev/null && apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cuda-nvcc-13-0 cuda-cudart-dev-13-0 >/dev/null); then
    echo "mixc: CUDA installed at /usr/local/cuda"
  else
    echo "mixc: WARNING: no CUDA toolkit; the CUDA compile tests (test/lit/cuda) will be reported unsupported" >&2
  fi
fi
