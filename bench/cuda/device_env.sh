# Sourced by the GPU machine's scripts (run from the repository root): the mixc
# binary and its libraries carried in .mixc-bin/ unpacked to /tmp/mb and put on
# the paths, the compile cache in /tmp/mc, and the device named.
mkdir -p /tmp/mb && tar xJf .mixc-bin/libs.tar.xz -C /tmp/mb && xz -dc .mixc-bin/mixc.xz > /tmp/mb/mixc && chmod +x /tmp/mb/mixc
export LD_LIBRARY_PATH=/tmp/mb PATH=/tmp/mb:/usr/local/cuda/bin:$PATH MIXC_CACHE_DIR=/tmp/mc
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
