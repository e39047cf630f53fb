#!/usr/bin/env bash
# Installs what mixc needs on Debian 12 (run as root). Idempotent: skips what is present.
set -euo pipefail
pkgs=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools libfmt-dev catch2 ninja-build cmake g++ python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "mixc: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# lit is a Python package; Debian's llvm-22-tools ships it under /usr/lib/llvm-22/build/utils/lit.
python3 -c "import numpy" 2>/dev/null || python3 -m pip install -q 'numpy==1.26.4'
