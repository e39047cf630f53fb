"""Runs `mixc check` on every spec in a directory and requires exit code 1
with a `file:line:col: error:` first line, a quoted source line and a caret."""
import pathlib
import re
import subprocess
import sys

failures = 0
specs = sorted(pathlib.Path(sys.argv[1]).glob("*.mixer"))
assert specs, "no specs found"
for spec in specs:
    r = subprocess.run(["mixc", "check", str(spec)], capture_output=True, timeout=30)
    lines = r.stderr.decode("latin-1").split("\n")
    ok = (r.returncode == 1 and re.match(re.escape(str(spec)) + r":\d+:\d+: error: ", lines[0])
          and len(lines) >= 3 and re.match(r"^\s*\^~*$", lines[2]) and not r.stdout)
    if not ok:
        failures += 1
        print(f"{spec.name}: exit {r.returncode}\n{r.stderr.decode('latin-1')}")
print(f"{len(specs)} specs, {failures} failures")
sys.exit(1 if failures else 0)
