"""chordkey_vae: joint chord and key estimation with a VAE (Wu & Yoshii 2022) on MIDI.

  musicvae-prepare --config=chordkey_vae --input=<MIDI folder> --output=<dataset dir>
  musicvae-train --config=chordkey_vae --data=<dataset dir> --workdir=<dir>
  musicvae-evaluate --workdir=<dir> --data=<dataset dir>

Windows of 128 beats (``chordkey.windows``): files in POP909-style folders come with
their chords and keys, any other MIDI file is read unlabelled. A 2-layer BiLSTM classifier
(128 per direction) gives each beat's chord (181 classes) and key (24); a recognition network
and a decoder over per-beat features with an 8-wide latent, and a first-order key model and
key-relative chord transition model, make it a VAE (``chordkey.vae``). Unlabelled beats train it
through the ELBO at weight 0.1. ``--config.model.vae=False`` trains the classifier alone;
``--config.model.labelled_fraction=0.25`` keeps the labels of a quarter of the training songs;
``--config.model.classifier=transformer`` and ``--config.model.chord_lm=recurrent`` are the other
architectures. Adam at 2e-3 decaying to 1e-4, batch 32, 3,000 steps.
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.chordkey_config('chordkey_vae', arg)
