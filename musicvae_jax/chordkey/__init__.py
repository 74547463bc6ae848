"""Chord and key estimation on symbolic music (Wu & Yoshii's joint chord/key VAE, on MIDI).

pop909: POP909 songs on their beat grid; vocabulary: 181 chords, 24 keys, reductions;
scoring: mir_eval; baselines: note-seq's HMM, templates, logistic regression, music21;
classifier: the BiLSTM classifier; attention_classifier: the transformer classifier;
language_models: key and chord language models and their expectations; vae: the VAE and its
semi-supervised training; midi_input: any MIDI file on a beat grid; annotate: the estimator
behind musicvae-chords; model_chords: its chords for chord-conditioned datasets;
features: per-beat features and labels (numpy); windows: the chordkey_vae config's converter
(MIDI files -> beat windows, labelled where POP909's files sit beside them); joint: the VAE with
its language models as parameters, as musicvae-train trains it.
"""
