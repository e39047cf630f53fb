"""mixc: sequence mixers compiled from a spec. `mixc.jax.load(spec)` gives a
JAX function with the compiler-derived backward (CPU); see python/README.md."""

__version__ = "0.1.0"
