"""What the binding checks (jax_check.py, torch_check.py) share: running mixc
and comparing arrays."""
import subprocess
import sys

import numpy as np


def run_mixc(mixc_bin, *args):
    """Runs `mixc ARGS`; a failure ends the check with mixc's output."""
    r = subprocess.run([mixc_bin, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"mixc {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def rel(a, b):
    """(relative L2 error of a against b, absolute L2 error), in float64."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300), np.linalg.norm(a - b)
