"""Requires two directories to hold the same NAME.npy files with equal
contents (to rounding: |a - b| <= 1e-12 |b|max), and prints what it compared."""
import os
import sys

import numpy as np

a_dir, b_dir = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(a_dir))
assert names == sorted(os.listdir(b_dir)), (names, sorted(os.listdir(b_dir)))
for name in names:
    a, b = np.load(os.path.join(a_dir, name)), np.load(os.path.join(b_dir, name))
    assert a.shape == b.shape, (name, a.shape, b.shape)
    assert np.abs(a - b).max() <= 1e-12 * max(np.abs(b).max(), 1e-300), name
print("same:", " ".join(n[:-4] for n in names))
