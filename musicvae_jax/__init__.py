"""musicvae_jax: MusicVAE for symbolic music in JAX and Flax NNX."""

__version__ = '0.1.0'
