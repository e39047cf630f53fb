"""mixc: sequence mixers compiled from a spec. `mixc.torch.load(spec)` gives a
PyTorch op and `mixc.jax.load(spec)` a JAX function, each with the
compiler-derived backward (CPU); see python/README.md."""

__version__ = "0.1.0"
