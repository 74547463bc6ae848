"""Baseline chord and key estimators on the POP909 beat grid, to compare the VAE against.

Chords (one label per beat):
  - ``hmm_chords``: note_seq's HMM (``chord_inference.infer_chords_for_sequence``) on the PIANO
    track, on a NoteSequence rebuilt on the beat grid (one beat = one quarter at 60 qpm, 4/4,
    4 steps per quarter) with 4 chords per bar, so it really infers one chord per beat. Its
    output is triads (maj, min, aug, dim) or N.C.
  - ``template_chords``: per beat, the chord whose binary pitch-class template has the highest
    cosine with the beat's chroma, among maj, min, 7, maj7, min7 (or all 15 qualities of the
    vocabulary); N where the beat is silent.
  - ``SoftmaxRegression`` on ``chord_features``: per-beat multinomial logistic regression on the
    beat's chroma, bass chroma and its neighbours' chroma (plain numpy gradient descent).
Keys (one label per song):
  - ``music21_key``: music21's default key finder (``Stream.analyze('key')``: Aarden-Essen
    weights) on the song's notes, durations in beats.
  - ``SoftmaxRegression`` on ``key_features``: the song's duration-weighted pitch-class
    histogram; trained with all 12 transpositions of every training song.
"""

import numpy as np
import mir_eval
import note_seq
from note_seq import chord_inference, chord_symbols_lib

from musicvae_jax.chordkey import vocabulary

# --- note_seq HMM ---------------------------------------------------------------------------

_QUALITY = {chord_symbols_lib.CHORD_QUALITY_MAJOR: 'maj', chord_symbols_lib.CHORD_QUALITY_MINOR:
            'min', chord_symbols_lib.CHORD_QUALITY_AUGMENTED: 'aug',
            chord_symbols_lib.CHORD_QUALITY_DIMINISHED: 'dim'}


def beat_grid_sequence(song, tracks=('PIANO',)):
  """A NoteSequence quantized on the beat grid: beat b starts at b seconds (60 qpm, 4/4)."""
  ns = note_seq.NoteSequence()
  ns.tempos.add(qpm=60.0)
  ns.time_signatures.add(numerator=4, denominator=4)
  ns.ticks_per_quarter = 220
  for start, end, pitch in song.notes_of(tracks):
    start, end = max(start, 0.0), min(end, song.num_beats)
    if end > start:
      ns.notes.add(pitch=int(pitch), velocity=80, start_time=float(start), end_time=float(end))
  ns.total_time = float(song.num_beats)
  return note_seq.quantize_note_sequence(ns, steps_per_quarter=4)


def hmm_chords(song, tracks=('PIANO',)) -> list:
  """[B] Harte labels from note_seq's HMM, one chord per beat."""
  qns = beat_grid_sequence(song, tracks)
  chord_inference.infer_chords_for_sequence(qns, chords_per_bar=4)
  changes = {}  # the HMM writes an annotation only where the chord changes
  for ta in qns.text_annotations:
    if ta.annotation_type == note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL:
      changes[ta.quantized_step // 4] = figure_to_harte(ta.text)
  labels_b, current = [], 'N'
  for b in range(song.num_beats):
    current = changes.get(b, current)
    labels_b.append(current)
  return labels_b


def figure_to_harte(figure: str) -> str:
  if figure == note_seq.NO_CHORD:
    return 'N'
  root = chord_symbols_lib.chord_symbol_root(figure)
  return f'{vocabulary.ROOTS[root]}:{_QUALITY[chord_symbols_lib.chord_symbol_quality(figure)]}'


# --- template matching -----------------------------------------------------------------------

def chord_templates() -> np.ndarray:
  """[C, 12] unit-norm binary pitch-class templates of the vocabulary (row 0, N, is zeros)."""
  t_c12 = np.zeros((vocabulary.NUM_CHORDS, 12))
  for c in range(1, vocabulary.NUM_CHORDS):
    _, bitmap, _ = mir_eval.chord.encode(vocabulary.chord_label(c))
    root = vocabulary.split_label(vocabulary.chord_label(c))[0]
    t_c12[c] = np.roll(bitmap, root)
  return t_c12 / np.maximum(np.linalg.norm(t_c12, axis=1, keepdims=True), 1e-9)


# Qualities the template baseline chooses among: picked on the valid split (25 songs, PIANO):
# majmin 0.89 with these five, 0.87 with maj/min only, 0.79 with all 15 of the vocabulary.
TEMPLATE_QUALITIES = ('maj', 'min', '7', 'maj7', 'min7')


def template_chords(chroma_b12: np.ndarray, qualities=TEMPLATE_QUALITIES, min_energy=1e-6) -> list:
  """[B] labels: per beat, the best-matching template among ``qualities`` (None: all 15)."""
  t_c12 = chord_templates()
  allowed_c = np.zeros(vocabulary.NUM_CHORDS, bool)
  for c in range(1, vocabulary.NUM_CHORDS):
    quality = vocabulary.split_label(vocabulary.chord_label(c))[1]
    allowed_c[c] = qualities is None or quality in qualities
  norm_b = np.linalg.norm(chroma_b12, axis=1)
  cos_bc = (chroma_b12 / np.maximum(norm_b, 1e-9)[:, None]) @ t_c12.T
  best_b = np.argmax(np.where(allowed_c, cos_bc, -np.inf), axis=1)
  return [vocabulary.chord_label(int(c)) if n > min_energy else 'N'
          for c, n in zip(best_b, norm_b)]


# --- logistic regression ---------------------------------------------------------------------

def chord_features(song, tracks=('PIANO',), context=1) -> np.ndarray:
  """[B, F] per beat: normalised chroma of beats b-context..b+context, bass chroma, silence."""
  chroma_b12 = song.chroma(tracks)
  chroma_b12 = chroma_b12 / np.maximum(chroma_b12.max(axis=1, keepdims=True), 1e-9)
  padded = np.pad(chroma_b12, ((context, context), (0, 0)))
  parts = [padded[k:k + song.num_beats] for k in range(2 * context + 1)]
  silent_b1 = (song.chroma(tracks).sum(axis=1, keepdims=True) == 0).astype(float)
  return np.concatenate(parts + [song.bass_chroma(tracks), silent_b1], axis=1)


def key_features(song) -> np.ndarray:
  """[12] the song's duration-weighted pitch-class histogram (all tracks), summing to 1."""
  h_12 = song.chroma('all').sum(axis=0)
  return h_12 / max(h_12.sum(), 1e-9)


class SoftmaxRegression:
  """Multinomial logistic regression, full-batch gradient descent with Adam, L2 penalty."""

  def __init__(self, num_classes, l2=1e-4, steps=300, lr=0.05, seed=0):
    self.num_classes, self.l2, self.steps, self.lr, self.seed = num_classes, l2, steps, lr, seed

  def fit(self, x_nf, y_n):
    x_nf = np.asarray(x_nf, dtype=np.float32)
    n, f = x_nf.shape
    self.mean_f, self.std_f = x_nf.mean(0), x_nf.std(0) + 1e-6
    x_nf = (x_nf - self.mean_f) / self.std_f
    w_fc = np.zeros((f, self.num_classes), np.float32)
    b_c = np.zeros(self.num_classes, np.float32)
    onehot_nc = np.zeros((n, self.num_classes), np.float32)
    onehot_nc[np.arange(n), y_n] = 1
    m = [np.zeros_like(w_fc), np.zeros_like(b_c)]
    v = [np.zeros_like(w_fc), np.zeros_like(b_c)]
    for t in range(1, self.steps + 1):
      p_nc = _softmax(x_nf @ w_fc + b_c)
      g_nc = (p_nc - onehot_nc) / n
      grads = [x_nf.T @ g_nc + self.l2 * w_fc, g_nc.sum(0)]
      for i, (param, g) in enumerate(zip((w_fc, b_c), grads)):
        m[i] = 0.9 * m[i] + 0.1 * g
        v[i] = 0.999 * v[i] + 0.001 * g * g
        param -= self.lr * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
    self.w_fc, self.b_c = w_fc, b_c
    return self

  def predict_proba(self, x_nf):
    x_nf = (np.asarray(x_nf, np.float32) - self.mean_f) / self.std_f
    return _softmax(x_nf @ self.w_fc + self.b_c)

  def predict(self, x_nf):
    return np.argmax(self.predict_proba(x_nf), axis=1)


def _softmax(z_nc):
  z_nc = z_nc - z_nc.max(axis=1, keepdims=True)
  e = np.exp(z_nc)
  return e / e.sum(axis=1, keepdims=True)


def train_key_regression(songs, **kw) -> SoftmaxRegression:
  """On every training song's histogram in all 12 transpositions (key rotated with it)."""
  xs, ys = [], []
  for song in songs:
    h_12, k = key_features(song), vocabulary.key_index(song.main_key())
    for shift in range(12):
      xs.append(np.roll(h_12, shift))
      ys.append((k % 12 + shift) % 12 + 12 * (k >= 12))
  return SoftmaxRegression(vocabulary.NUM_KEYS, **kw).fit(np.array(xs), np.array(ys))


# --- music21 ---------------------------------------------------------------------------------

def music21_key(song) -> str:
  """Global key ('Db:maj') by music21's default key finder on all of the song's notes."""
  import music21  # pylint: disable=g-import-not-at-top  (slow import; only this baseline)
  stream = music21.stream.Stream()
  for start, end, pitch in song.notes_of('all'):
    if end > start:
      n = music21.note.Note(int(pitch))
      n.quarterLength = float(end - start)
      stream.insert(float(start), n)
  k = stream.analyze('key')
  pc = k.tonic.pitchClass
  return vocabulary.key_label(pc + (12 if k.mode == 'minor' else 0))
