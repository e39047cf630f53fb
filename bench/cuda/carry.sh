#!/usr/bin/env bash
# Builds, here (where mixc is built), what the GPU machine's scripts need and
# cannot make there (no MLIR, no network), in the ignored folders that the
# device's `carry` takes (64 MiB per call in all):
#   .mixc-bin/   mixc and the shared libraries it links, xz-compressed (~46 MiB;
#                bench/cuda/device_env.sh unpacks them there)
#   .mixc-cuda-cache/  the CUDA sources of test/cuda/torch_check.py's calls (~8 MiB)
#   .fla/        flash-linear-attention's fla/ package (~7 MiB), from FLA_REPO, a
#                checkout of fla-org/flash-linear-attention (never committed)
# Usage: bench/cuda/carry.sh [bin] [cache] [fla]   (default: all three)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(bin cache fla)
for part in "${parts[@]}"; do
  case "$part" in
    bin)
      # The libraries as ldd finds them, less the C and C++ runtimes the machine has.
      libs=$(mktemp -d)
      ldd "$root/build/bin/mixc" | awk '/=>/ {print $3}' | grep -v -E 'lib(c|m|stdc\+\+|gcc_s)\.so' |
        while read -r lib; do cp -L "$lib" "$libs/"; done
      mkdir -p "$root/.mixc-bin"
      tar -C "$libs" -cf - . | xz -6 -T2 > "$root/.mixc-bin/libs.tar.xz"
      xz -6 -T2 -c "$root/build/bin/mixc" > "$root/.mixc-bin/mixc.xz"
      rm -rf "$libs"
      ;;
    cache)
      rm -rf "$root/.mixc-cuda-cache"
      "$root/.venv/bin/python" "$root/test/cuda/torch_check.py" emit "$root/.mixc-cuda-cache" > /dev/null
      ;;
    fla)
      : "${FLA_REPO:?set FLA_REPO to a checkout (or git directory) of fla-org/flash-linear-attention}"
      rm -rf "$root/.fla" && mkdir -p "$root/.fla"
      git -C "$FLA_REPO" archive HEAD fla | tar -x -C "$root/.fla"
      echo "fla $(git -C "$FLA_REPO" rev-parse --short HEAD)" > "$root/.fla/COMMIT"
      ;;
    *) echo "carry.sh: unknown part '$part' (bin, cache, fla)" >&2; exit 1 ;;
  esac
done
du -sh "$root"/.mixc-bin "$root"/.mixc-cuda-cache "$root"/.fla 2>/dev/null || true
