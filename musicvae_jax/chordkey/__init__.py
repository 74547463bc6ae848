"""Chord and key estimation on symbolic music: POP909 data on its beat grid, the chord and key
vocabularies, baselines and mir_eval scoring (groundwork for issue 19's hierarchical VAE)."""
