#!/bin/bash
# ab_chunk_level.sh NAME SPEC SHAPE ARCH -> new_NAME.so old_NAME.so in the
# current directory: a spec's chunked CPU kernel as this mixc prints it from
# the chunk-level ops (new), and the same kernel through the hand-written
# scanChunkedSSD / scanChunkedGLA templates of 1ae6c49 (old: the recurrent
# kernel's source with its scan call replaced, 1ae6c49's headers), built with
# the printed flags, for bench/cpu/ab_kernels.cpp (results:
# bench/results/cpu-chunk-level-ab.md).
set -e
name=$1 spec=$2 shape=$3 arch=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
M=$root/build/bin/mixc
rm -rf n_$name o_$name
$M emit $spec --target=cpu --cpu-arch=$arch --schedule=chunked --shape $shape --threads 2 -o n_$name > n_$name.log
$M emit $spec --target=cpu --cpu-arch=$arch --schedule=recurrent --shape $shape --threads 2 -o o_$name > o_$name.log
for h in mixc_cpu.h mixc_cpu_chunked.h mixc_cpu_recurrent.h mixc_cpu_vector.h mixc_cpu_plain.h; do git -C "$root" show 1ae6c49:runtime/cpu/$h > o_$name/$h; done
base=$(basename $spec .mixer)
call=$(grep -o "forEachChunk<[^>]*>" n_$name/$base.cpp | head -1)
read K V VB C DW KC <<<"$(echo $call | sed "s/forEachChunk<//; s/>//; s/,/ /g")"
lanes=$(grep -o "chunkOutput<[^>]*>" n_$name/$base.cpp | head -1 | sed 's/chunkOutput<//; s/>//; s/,/ /g')
read LN NV <<<"$lanes"
if [ "$DW" = "$K" ]; then st=vector; tmpl=scanChunkedGLA; elif [ "$DW" = 1 ]; then st=scalar; tmpl=scanChunkedSSD; else st=identity; tmpl=scanChunkedSSD; fi
# old: the recurrent line replaced by the old template call (log decays)
python3 - o_$name/$base.cpp "$tmpl<Structure::$st, $K, $V, $VB, $LN, $NV, $C, true>(p, threads, r0_row);" <<'PY'
import sys,re
p,call=sys.argv[1],sys.argv[2]
s=open(p).read()
s2=re.sub(r"else scanRecurrent<[^;]*;", "else "+call, s, count=1)
assert s2!=s
open(p,'w').write(s2)
PY
flags=$(grep "^build:" n_$name.log | head -1 | sed 's/^build: c++ //; s/ -c .*//')
g++ $flags -fPIC -shared n_$name/$base.cpp n_$name/mixc_cpu_tensor_ops.cpp -o new_$name.so
g++ $flags -fPIC -shared o_$name/$base.cpp -o old_$name.so
echo "$name: $call LN=$LN NV=$NV st=$st"
