# Shared by the setup and test scripts: paths and the build helper.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${MIXC_JOBS:-2}"

# build DIR [cmake args...]: configure once, then build incrementally.
build() {
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    # Decided here, not when this file is sourced: install-deps.sh may have
    # just made the virtual environment that has NumPy.
    local python
    if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python="$(command -v python3)"; fi
    cmake -S "$root" -B "$dir" -G Ninja -DMIXC_PYTHON="$python" "$@" >/dev/null
  fi
  ninja -C "$dir" -j "$jobs"
}
