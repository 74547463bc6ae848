"""Generation from trained models: sampling, interpolation, reconstruction, attribute vectors."""
