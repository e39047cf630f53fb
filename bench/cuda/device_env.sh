# Sourced by the GPU machine's scripts (run from the repository root): the mixc
# binary and its libraries carried in .mixc-bin/ unpacked to /tmp/mb and put on
# the paths, the compile cache in /tmp/mc, and the device named.
mkdir -p /tmp/mb && tar xJf .mixc-bin/libs.tar.xz -C /tmp/mb && xz -dc .mixc-bin/mixc.xz > /tmp/mb/mixc && chmod +x /tmp/mb/mixc
export LD_LIBRARY_PATH=/tmp/mb PATH=/tmp/mb:/usr/local/cuda/bin:$PATH MIXC_CACHE_DIR=/tmp/mc
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
# Two runs of `mixc run SPEC --target=cuda --grad ARGS...` (examples/SPEC.mixer)
# into DIR/SPEC.1 and .2, then whether every gradient has the same bits.
same_bits() {
  local spec=$1 dir=$2 same=1 f
  shift 2
  for r in 1 2; do mixc run examples/$spec.mixer --target=cuda --grad "$@" --out $dir/$spec.$r > /dev/null 2>&1; done
  for f in $dir/$spec.1/d*.npy; do cmp -s $f $dir/$spec.2/$(basename $f) || same=0; done
  echo "$spec $* bitwise-identical=$same ($(ls $dir/$spec.1/d*.npy 2>/dev/null | wc -l) gradients)"
}
# `mixc run examples/SPEC.mixer --target=cuda --grad SHAPE --with-init --dtype=DT`
# into DIR/NAME.log, and one line: its exit status, gradients OK and FAILED,
# the largest relative L2 error.
grad_run() { # dir name spec shape dtype
  local log=$1/$2.log
  mixc run examples/$3.mixer --target=cuda --grad --shape $4 --with-init --dtype=$5 > $log 2>&1
  echo "$2: $3 $4 $5 rc=$? ok=$(grep -c ' OK$' $log) failed=$(grep -c FAILED $log) largest=$(grep -o 'relative L2 error [0-9.e+-]*' $log | awk '{print $4}' | sort -g | tail -1)"
}
