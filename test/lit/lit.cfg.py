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
