"""musicoder: MusiCoder, a transformer pretrained on piano-roll frames by masked reconstruction.

  musicvae-prepare --config=musicoder --input=<MIDI folder> --output=<dataset dir>
  musicvae-pretrain --config=musicoder --data=<dataset dir> --workdir=<dir>
  musicvae-finetune --task=melody --pretrained=<dir> --labels_fraction=0.1 --output=<dir>

Windows of 64 16th-note frames (four 4/4 bars' worth, any meter) x 88 pitches, each cell
silent / sounding / an onset in one of 8 velocity bins. The encoder: 4 pre-LayerNorm blocks of
width 128, 4 heads, MLP 512. Pretraining hides contiguous frames (CFM: spans of 4 frames, about
15 % of them) and contiguous pitch channels (CCM: bands of 12 semitones, about 15 %) and
reconstructs the hidden cells' labels. Adam at 1e-3, batch 64, 3,000 steps (about 35 minutes
on 2 CPU cores).
musicoder_cfm and musicoder_ccm are the ablations with one objective each.
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.musicoder_config('musicoder', arg)
