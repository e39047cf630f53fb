import os
import lit.formats

config.name = "mixc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test", ".mixer"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.mixc_obj_root, "test", "lit")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]

bin_dir = os.path.join(config.mixc_obj_root, "bin")
config.environment["PATH"] = os.pathsep.join([bin_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
# Sanitizer builds: fail on the first report.
for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
# Compiled CPU kernels are cached per build, not in the user's home.
config.environment["MIXC_CACHE_DIR"] = os.path.join(config.mixc_obj_root, "mixc-cache")
config.substitutions.append(("%examples", os.path.join(config.mixc_src_root, "examples")))
config.substitutions.append(("%python", config.python))

# The JAX and PyTorch bindings and the plots need jax / torch / matplotlib in the suite's Python.
import subprocess
for module in ("jax", "torch", "matplotlib"):
    if subprocess.run([config.python, "-c", "import " + module], capture_output=True).returncode == 0:
        config.available_features.add(module)

# What the CPU backend's ISA tests can use on this host: running x86-64-v3
# (AVX2) kernels, cross-compiling for aarch64 and running aarch64 under qemu.
import shutil
try:
    cpu_flags = set(open("/proc/cpuinfo").read().split())
except OSError:
    cpu_flags = set()
import platform
if platform.machine() in ("x86_64", "AMD64"):
    config.available_features.add("host-x86_64")
if {"avx2", "fma", "bmi2", "f16c", "movbe"} <= cpu_flags:
    config.available_features.add("x86-64-v3")
if shutil.which("aarch64-linux-gnu-g++"):
    config.available_features.add("aarch64-cross")
if shutil.which("qemu-aarch64"):
    config.available_features.add("qemu-aarch64")
# A usable NVIDIA GPU (the device machine; never CI): --target=cuda runs there.
if shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0:
    config.available_features.add("cuda-device")
config.substitutions.append(("%runtime", os.path.join(config.mixc_src_root, "runtime")))
config.substitutions.append(("%mixc_src", config.mixc_src_root))
config.substitutions.append(("%mlir_include", config.mlir_include_dir))
# The sanitizer build re-runs the suite for mixc itself; the ISA tests
# exercise the generated kernels (built without sanitizers either way), so
# they run in the plain build only.
if "ASAN_OPTIONS" in os.environ:
    config.available_features.add("sanitized")
