"""The CPU kernels' worker pool (runtime/cpu/mixc_cpu.h, ThreadPool) where
users put it under stress: calls from a forked child (which has none of the
parent's pool threads: it spawns its own), from three Python threads at once
(one takes the pool, the others spawn), and at interpreter exit (the pool's
threads joined). Every result bitwise the first call's: the pool changes who
runs a task, never the arithmetic.
Usage: pool_check.py MIXC OUTDIR SPEC"""
import os
import shutil
import sys
import threading

os.environ["MIXC"] = shutil.which(sys.argv[1])
os.environ["MIXC_CACHE_DIR"] = sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch  # noqa: E402

import mixc.torch as mt  # noqa: E402

torch.manual_seed(0)
f = mt.load(sys.argv[3], verbose=False, threads=2)
B, T, H, K = 2, 33, 4, 16
x = dict(q=torch.randn(B, T, H, K), k=torch.randn(B, T, H, K), v=torch.randn(B, T, H, K),
         g=torch.nn.functional.logsigmoid(torch.randn(B, T, H, K)) / 16)
ref, _ = f(**x)
pid = os.fork()
if pid == 0:
    o, _ = f(**x)
    os._exit(0 if torch.equal(o, ref) else 3)
_, status = os.waitpid(pid, 0)
print(f"forked child: {'OK' if os.WEXITSTATUS(status) == 0 else 'FAILED'}")
same = []


def calls():
    for _ in range(20):
        same.append(torch.equal(f(**x)[0], ref))


threads = [threading.Thread(target=calls) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"three threads, {len(same)} calls: {'OK' if all(same) and len(same) == 60 else 'FAILED'}")
