"""Runs `mixc run --target=cpu` on every spec given, at every T, with and
without an initial state, and requires every check against the float64
reference to pass (fp32: relative L2 < 1e-4, bf16: < 1e-2). A --target=...
among the extra options replaces the CPU target (with --grad: every gradient
against finite differences)."""
import subprocess
import sys

args = sys.argv[1:]
sep = args.index("--")
specs, extra = args[:sep], args[sep + 1:]
lengths = [int(t) for t in extra[0].split(",")]
shape, rest = extra[1], extra[2:]
target = next((a for a in rest if a.startswith("--target=")), "--target=cpu")
rest = [a for a in rest if a != target]
runs = failures = checks = 0
for spec in specs:
    for T in lengths:
        for init in ([], ["--with-init"]):
            cmd = ["mixc", "run", spec, target, f"--shape={shape},T={T}", *init, *rest]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            runs += 1
            lines = [l for l in r.stdout.splitlines() if "check:" in l]
            checks += len(lines)
            if r.returncode != 0 or not lines or any("OK" not in l for l in lines) or "NOT FINITE" in r.stdout:
                failures += 1
                print(f"FAILED: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
print(f"{runs} runs, {checks} checks, {failures} failures")
sys.exit(1 if failures else 0)
