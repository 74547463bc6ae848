"""Magenta MusicVAE configs by name; see musicvae_jax.config_lib."""
