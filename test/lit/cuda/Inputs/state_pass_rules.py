"""The chunked walk's tiling as printed (statePassN in the emitted .cu) against
the rules of #mixer.cuda_tile written out here independently: emits each spec
for CUDA, compiles its statePass functions on the host with a stub of
StatePass and hasWgmma(), and compares their choice for every batch, length
and device kind of a grid. No GPU needed.
Usage: state_pass_rules.py OUT SMS SPEC:H,K,V:FORM ... (FORM: ssd, gla, ut, ut_vector, ssd_wide)"""
import os
import re
import subprocess
import sys

out, sms, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
os.makedirs(out, exist_ok=True)


def expected(form, H, Vs, B, T, hopper):
    """(vBlock, keySplit, segments, segChunks, wgmma) by the schedule's rules."""
    ctas = lambda w: B * H * -(-Vs // w)
    if form == "ssd_wide":
        return (32, 1, 1, 0, 0)
    if form == "ut" and hopper and ctas(64) < sms:
        return (128, 1, 1, 0, 1)
    chunks = -(-T // 64)
    if form in ("ssd", "gla") and 2 * ctas(128) <= sms and chunks >= 8:
        segs = min(sms // ctas(128), chunks // 4)
        seg_chunks = -(-chunks // segs)
        return (128, 1, -(-chunks // seg_chunks), seg_chunks, 0)
    if ctas(128) >= sms:
        return (128, 1, 1, 0, 0)
    if ctas(64) >= sms:
        return (64, 1, 1, 0, 0)
    return (32, 2, 1, 0, 0)


STUB = """#include <algorithm>
#include <cstdint>
#include <cstdio>
struct StatePass { int vBlock = 128; int keySplit = 1; int segments = 1; int64_t segChunks = 0; bool wgmma = false; };
namespace chunk { bool hopper = false; bool hasWgmma() { return hopper; } }
"""
failures = checks = 0
batches, lengths = (1, 2, 3, 4, 8, 16, 17, 33, 64, 66, 132, 200), (16, 100, 511, 512, 513, 1000, 4096, 16384)
for case in cases:
    spec, sizes, form = case.split(":")
    H, K, V = (int(x) for x in sizes.split(","))
    name = os.path.splitext(os.path.basename(spec))[0]
    d = os.path.join(out, f"{name}-{form}")
    subprocess.run(["mixc", "emit", spec, "--target=cuda", f"--cuda-sms={sms}", f"--shape=H={H},K={K},V={V}", "-o", d],
                   check=True, capture_output=True)
    cu = open(os.path.join(d, name + ".cu")).read()
    fns = re.findall(r"^StatePass statePass\d+\(.*?^}\n", cu, re.M | re.S)
    if len(fns) != 1:
        print(f"{name}: FAILED ({len(fns)} statePass functions printed, expected 1)")
        failures += 1
        continue
    main = STUB + fns[0].replace("StatePass statePass0", "StatePass rule") + """
int main() {
  const long batches[] = {""" + ", ".join(map(str, batches)) + """}, lengths[] = {""" + ", ".join(map(str, lengths)) + """};
  for (int hopper = 0; hopper < 2; ++hopper)
    for (long B : batches)
      for (long T : lengths) {
        chunk::hopper = hopper;
        StatePass p = rule(B, T);
        std::printf("%d %ld %ld %d %d %d %lld %d\\n", hopper, B, T, p.vBlock, p.keySplit, p.segments,
                    (long long)(p.segments > 1 ? p.segChunks : 0), (int)p.wgmma);
      }
}
"""
    src = os.path.join(d, "rule.cpp")
    open(src, "w").write(main)
    exe = os.path.join(d, "rule")
    subprocess.run(["c++", "-std=c++17", "-O0", src, "-o", exe], check=True)
    bad = 0
    for line in subprocess.run([exe], check=True, capture_output=True, text=True).stdout.splitlines():
        hopper, B, T, *got = (int(x) for x in line.split())
        want = expected(form, H, V, B, T, hopper)
        checks += 1
        if tuple(got) != want:
            bad += 1
            if bad <= 3:
                print(f"{name} ({form}) B={B} T={T} hopper={hopper}: printed {tuple(got)}, the rules give {want}")
    failures += bad > 0
    print(f"{name} ({form}, H={H}, V={V}, {sms} SMs): {len(batches) * len(lengths) * 2} calls, "
          f"{'OK' if not bad else 'FAILED'}")
print(f"{checks} choices checked, {failures} failures")
sys.exit(1 if failures else 0)
