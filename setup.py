"""musicvae_jax: a MusicVAE toolkit for symbolic music in JAX and Flax."""

import os

import setuptools


def _data_files():
  out = []
  for root, _, files in os.walk('data'):
    if files:
      out.append((os.path.join('share', 'musicvae_jax', root),
                  [os.path.join(root, f) for f in sorted(files)]))
  return out

setuptools.setup(
    name='musicvae_jax',
    version='0.1.0',
    description='MusicVAE (hierarchical latent vector models of music) in JAX and Flax NNX',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.11',
    # The top-level configs/ folder ships as the package musicvae_jax.configs, and data/ as
    # <prefix>/share/musicvae_jax/data, so an installed toolkit finds both without the repo.
    packages=setuptools.find_packages(include=['musicvae_jax', 'musicvae_jax.*'])
    + ['musicvae_jax.configs'],
    package_dir={'musicvae_jax.configs': 'configs'},
    data_files=_data_files(),
    install_requires=[
        'absl-py>=2.1',
        'flax>=0.12',
        'jax>=0.7',
        'optax>=0.2.4',
        'orbax-checkpoint>=0.11',
        'tensorboardX>=2.6',
        'array-record>=0.5',
        'grain>=0.2.2',
        'matplotlib>=3.7',
        'mido>=1.3',
        'ml-collections>=0.1.1',
        'note-seq>=0.0.5',
        'numba>=0.58',  # converters/fast_midi.py (note-seq brings it too, through librosa)
        'numpy>=1.26',
        'pretty_midi>=0.2.10',
        'tqdm>=4.66',
    ],
    extras_require={
        # musicvae-prepare --runner=beam; the tests run it, so 'test' needs it too.
        'beam': ['apache-beam>=2.60'],
        # JAX for accelerators: TPU VMs and pods, or NVIDIA GPUs (CUDA 12 wheels).
        'tpu': ['jax[tpu]>=0.7'],
        'gpu': ['jax[cuda12]>=0.7'],
        # WAV rendering inside the Python process (pyfluidsynth on the FluidSynth library);
        # without it the fluidsynth program is used when installed.
        'audio': ['pyfluidsynth>=1.3'],
        # TensorBoard, to view the event files a run writes (<workdir>/tensorboard).
        'tensorboard': ['tensorboard>=2.16'],
        # The notebooks in colab/ in a local JupyterLab (Colab has these already).
        'notebook': ['jupyterlab>=4', 'ipykernel>=6.29', 'ipython>=8'],
        # Chord and key estimation (musicvae_jax.chordkey): mir_eval scores, music21's key finder.
        'analysis': ['mir_eval>=0.7', 'music21>=9.1'],
        # The tests execute the notebooks (papermill), run the Beam pipeline and score chords
        # and keys (mir_eval, music21).
        'test': ['pytest>=8', 'pytest-xdist>=3.5', 'hypothesis>=6.100', 'apache-beam>=2.60',
                 'papermill>=2.6', 'nbformat>=5.10', 'ipykernel>=6.29', 'mir_eval>=0.7',
                 'music21>=9.1'],
    },
    entry_points={
        'console_scripts': [
            'musicvae-prepare=musicvae_jax.cli.prepare:run',
            'musicvae-train=musicvae_jax.cli.train:run',
            'musicvae-evaluate=musicvae_jax.cli.evaluate:run',
            'musicvae-sample=musicvae_jax.cli.sample:run',
            'musicvae-interpolate=musicvae_jax.cli.interpolate:run',
            'musicvae-reconstruct=musicvae_jax.cli.reconstruct:run',
            'musicvae-attributes=musicvae_jax.cli.attributes:run',
            'musicvae-import-magenta=musicvae_jax.cli.import_magenta:run',
            'musicvae-export=musicvae_jax.cli.export:run',
            'musicvae-generate=musicvae_jax.cli.generate:run',
            'musicvae-groove=musicvae_jax.cli.groove:run',
            'musicvae-dmelodies=musicvae_jax.cli.dmelodies:run',
            'musicvae-chords=musicvae_jax.cli.chords:run',
            'musicvae-swap=musicvae_jax.cli.swap:run',
            'musicvae-pretrain=musicvae_jax.cli.pretrain:run',
            'musicvae-finetune=musicvae_jax.cli.finetune:run',
        ],
    },
)
