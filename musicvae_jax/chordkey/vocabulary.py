"""Chord and key vocabularies for POP909: Harte label <-> class index, and reductions.

Chords: 12 roots x the 15 qualities that occur in POP909's chord_midi.txt (counted over all 709
songs: see the POP909 README) + N = 181 classes. The bass (``/3`` etc., inversions) is dropped:
the class is the chord, not its voicing. Index 0 is N; class ``1 + 15 * root + q``.

Reductions: to Magenta's 49 triad classes in the order of note_seq's TriadChordOneHotEncoding
(0 N.C., 1-12 major C..B, 13-24 minor, 25-36 augmented, 37-48 diminished; sevenths and sixths go
to their triad, the sus chords, which that encoding rejects, go to major), and to mir_eval's
majmin (25 classes: N, 12 maj, 12 min; dim, aug and sus chords have no majmin class -> None).

Keys: 24 classes, ``tonic + 12 * minor`` (0-11 major C..B, 12-23 minor); key labels as in
key_audio.txt (``Db:maj``), mir_eval key strings as ``Db major``.
"""

ROOTS = ('C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B')
KEY_TONICS = ('C', 'Db', 'D', 'Eb', 'E', 'F', 'Gb', 'G', 'Ab', 'A', 'Bb', 'B')
QUALITIES = ('maj', 'min', 'dim', 'aug', 'sus2', 'sus4', 'maj7', 'min7', '7', 'sus4(b7)', 'maj6',
             'hdim7', 'dim7', 'min6', 'minmaj7')
NUM_CHORDS = 1 + 12 * len(QUALITIES)
NUM_KEYS = 24
# quality -> triad family: 0 major, 1 minor, 2 augmented, 3 diminished (note_seq's 49 order).
_TRIAD = {'maj': 0, 'maj7': 0, '7': 0, 'maj6': 0, 'sus2': 0, 'sus4': 0, 'sus4(b7)': 0,
          'min': 1, 'min7': 1, 'min6': 1, 'minmaj7': 1, 'aug': 2, 'dim': 3, 'hdim7': 3, 'dim7': 3}
_MAJMIN = {'maj': 0, 'maj7': 0, '7': 0, 'maj6': 0, 'min': 1, 'min7': 1, 'min6': 1, 'minmaj7': 1}
_PC = {name: i for i, name in enumerate(ROOTS)}
_PC.update({name: i for i, name in enumerate(KEY_TONICS)})
_PC.update({'Db': 1, 'D#': 3, 'Gb': 6, 'G#': 8, 'A#': 10})


def pitch_class(name: str) -> int:
  return _PC[name]


def split_label(label: str):
  """'C#:maj7/3' -> (1, 'maj7'); 'N' -> (None, None)."""
  if label in ('N', 'X'):
    return None, None
  root, rest = label.split(':') if ':' in label else (label, 'maj')
  return _PC[root], rest.split('/')[0]


def chord_index(label: str) -> int:
  root, quality = split_label(label)
  if root is None:
    return 0
  return 1 + len(QUALITIES) * root + QUALITIES.index(quality)


def chord_label(index: int) -> str:
  if index == 0:
    return 'N'
  root, q = divmod(index - 1, len(QUALITIES))
  return f'{ROOTS[root]}:{QUALITIES[q]}'


def triad_index(label_or_index) -> int:
  """Class among Magenta's 49 (TriadChordOneHotEncoding order)."""
  label = chord_label(label_or_index) if isinstance(label_or_index, int) else label_or_index
  root, quality = split_label(label)
  if root is None:
    return 0
  return 1 + 12 * _TRIAD[quality] + root


def majmin_index(label_or_index):
  """Class among 25 (0 N, 1-12 C..B:maj, 13-24 C..B:min), or None where majmin has none."""
  label = chord_label(label_or_index) if isinstance(label_or_index, int) else label_or_index
  root, quality = split_label(label)
  if root is None:
    return 0
  family = _MAJMIN.get(quality)
  return None if family is None else 1 + 12 * family + root


def majmin_label(index: int) -> str:
  if index == 0:
    return 'N'
  family, root = divmod(index - 1, 12)
  return f"{ROOTS[root]}:{('maj', 'min')[family]}"


def key_index(label: str) -> int:
  tonic, mode = label.split(':')
  return _PC[tonic] + (12 if mode == 'min' else 0)


def key_label(index: int) -> str:
  return f"{KEY_TONICS[index % 12]}:{'min' if index >= 12 else 'maj'}"


def mir_eval_key(label: str) -> str:
  """'Db:maj' -> 'Db major' (mir_eval.key's format)."""
  tonic, mode = label.split(':')
  return f"{tonic} {'minor' if mode == 'min' else 'major'}"


_TRIAD_SUFFIX = ('', 'm', 'aug', 'dim')


def triad_figure(label: str) -> str:
  """A chord symbol note-seq parses for the label's triad class ('A:min7' -> 'Am'; 'N' ->
  note-seq's no-chord 'N.C.')."""
  index = triad_index(label)
  if index == 0:
    return 'N.C.'
  family, root = divmod(index - 1, 12)
  return ROOTS[root] + _TRIAD_SUFFIX[family]
