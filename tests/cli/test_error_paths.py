"""Every error a user can hit ends in one line ``<prog>: error: ...``, not a traceback.

One table sweeps all the musicvae-* commands. Each case is run as a user runs it: the real
console-script entry point in a fresh interpreter (``cli_process.argv``), in an empty working
folder of its own, on real data: the shared MIDI set, the prepared Nottingham reels, the bundled
model, and a workdir imported from Magenta's own cat-mel_2bar_small checkpoint. Every case must
exit with its status, print exactly one non-blank line on stderr (``<prog>: error: ``, naming
what the case says: the file, the flag, the reason or the fix), print nothing on stdout, and
leave its working folder empty (new outputs are given relative to it).

Each case costs a fresh interpreter (a jax import where the command gets that far); pytest-xdist
spreads them over the workers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

import broken_midi
from cli_process import argv
from conftest import SHARED
from musicvae_jax import config_boundary
from musicvae_jax import config_lib

MAGENTA = SHARED / 'reference' / 'magenta_checkpoints'
CONFIGS = config_lib.config_names()
KNOWN_CONFIGS = 'Known configs: ' + ', '.join(CONFIGS)
# The fake CPU devices conftest asks XLA for; the fresh interpreters inherit the setting.
_COUNT = re.search(r'--xla_force_host_platform_device_count=(\d+)',
                   os.environ.get('XLA_FLAGS', ''))
DEVICES = int(_COUNT.group(1)) if _COUNT else 1
TUNE = 'melody/nottingham_hpps11.mid'  # a real tune the melody model reads
GROOVE_BEAT = 'gmd_drummer10_session1_1_jazz-swing_124_beat_4-4.mid'  # a real Groove MIDI beat
DRUMS = 'drums/freedoom_d_dm14_drumtrack.mid'  # only drum notes
SONG = 'multitrack/freedoom_d_e1m1.mid'  # chords in programs 0-31, bass, drums
MELODY_ARGS = ('--config=cat-mel_2bar_small:tiny', '--data={mel_data}', '--workdir=run')


@dataclasses.dataclass(frozen=True)
class Case:
  """A command line and what its refusal must say: exit ``status``, one line holding ``must``.

  ``args`` and the strings of ``must`` are templates over the ``paths`` fixture; a
  ``re.Pattern`` in ``must`` is searched for in the line.
  """
  id: str
  prog: str
  args: tuple
  must: tuple
  status: int = 2


CASES = [
    # ---- unknown configs ----------------------------------------------------------------------
    Case('prepare-unknown-config', 'musicvae-prepare',
         ('--config=cat-mel_2bar_smal', '--output=out'),
         ("Unknown config 'cat-mel_2bar_smal'",
          re.compile(r"Did you mean 'cat-mel_2bar_small'( or '[\w-]+')*\? "), KNOWN_CONFIGS,
          "':tiny'")),
    Case('prepare-unknown-variant', 'musicvae-prepare',
         ('--config=cat-mel_2bar_small:huge', '--output=out'),
         ("Unknown variant 'huge' of config 'cat-mel_2bar_small'", "the only variant is ':tiny'")),
    Case('train-unknown-config', 'musicvae-train',
         ('--config=cat-mel_2bar_smal', '--data={mel_data}', '--workdir=run'),
         ("Unknown config 'cat-mel_2bar_smal'", "Did you mean 'cat-mel_2bar_small'",
          KNOWN_CONFIGS)),
    Case('import-unknown-config', 'musicvae-import-magenta',
         ('--config=cat-mel_2bar_smal', '--checkpoint={magenta}/mel2', '--workdir=imported'),
         ("Unknown config 'cat-mel_2bar_smal'", "Did you mean 'cat-mel_2bar_small'",
          KNOWN_CONFIGS)),
    # ---- musicvae-prepare ---------------------------------------------------------------------
    Case('prepare-model-chords-for-a-config-without-chords', 'musicvae-prepare',
         ('--config=cat-mel_2bar_small', '--input={midi}/multitrack', '--output=out',
          '--chord_source=model'),
         ("--chord_source=model: config 'cat-mel_2bar_small' takes no chords",
          'cat-mel_2bar_med_chords')),
    Case('prepare-chord-model-without-model-source', 'musicvae-prepare',
         ('--config=cat-mel_2bar_med_chords', '--output=out', '--chord_model={empty_dir}'),
         ('--chord_model needs --chord_source=model',)),
    Case('prepare-missing-input', 'musicvae-prepare',
         ('--config=cat-mel_2bar_small', '--input={no_such_dir}', '--output=out'),
         ('Input folder {no_such_dir} does not exist', '--input=<folder of .mid files>')),
    Case('prepare-empty-input', 'musicvae-prepare',
         ('--config=cat-mel_2bar_small', '--input={empty_dir}', '--output=out'),
         ('No .mid or .midi files in {empty_dir}', '--input=<folder that holds MIDI files>')),
    Case('prepare-output-holds-a-dataset', 'musicvae-prepare',
         ('--config=cat-mel_2bar_small', '--input={midi}/melody', '--output={mel_data}'),
         ('Output folder {mel_data} already holds a dataset', '--overwrite',
          'another --output')),
    Case('prepare-override-of-a-missing-key', 'musicvae-prepare',
         ('--config=cat-mel_2bar_small', '--config.data.no_such_key=1', '--input={midi}/melody',
          '--output=out'),
         ('cannot apply --config.data.no_such_key ', 'a key the config lacks')),
    Case('prepare-override-without-config', 'musicvae-prepare',
         ('--config.data.eval_fraction=0.5', '--output=out'),
         ('--config.data.eval_fraction overrides a field of a config',
          'pass --config=<name> too')),
    Case('prepare-split-csv-without-the-column', 'musicvae-prepare',
         ('--config=groovae_2bar_humanize:tiny', '--input={midi}/drums',
          '--split_csv={midi}/drums/MANIFEST.csv', '--split_column=gmd_splt', '--output=out'),
         ('{midi}/drums/MANIFEST.csv: needs a "file" column and a "gmd_splt" column',
          'gmd_split', '--split_column=')),
    # ---- musicvae-train -----------------------------------------------------------------------
    Case('train-without-data', 'musicvae-train',
         ('--config=cat-mel_2bar_small:tiny', '--workdir=run'), ('--data is required',)),
    Case('train-without-workdir', 'musicvae-train',
         ('--config=cat-mel_2bar_small:tiny', '--data={mel_data}'), ('--workdir is required',)),
    Case('train-new-workdir-without-config', 'musicvae-train',
         ('--data={mel_data}', '--workdir=run'),
         ('--config is required for a new workdir', '--config=cat-mel_2bar_small',
          ', '.join(CONFIGS))),
    Case('train-drum-data-for-a-melody-config', 'musicvae-train',
         ('--config=cat-mel_2bar_small:tiny', '--data={drum_data}', '--workdir=run'),
         ('{drum_data} was prepared with --config=cat-drums_2bar_small',
          'Prepare the MIDI again with this config')),
    Case('train-data-is-a-midi-folder', 'musicvae-train',
         ('--config=cat-mel_2bar_small:tiny', '--data={midi}/melody', '--workdir=run'),
         ('{midi}/melody/dataset.json not found', 'is not a prepared dataset',
          'musicvae-prepare --config=<name> --input=<MIDI folder> --output={midi}/melody')),
    Case('train-batch-not-a-multiple-of-the-devices', 'musicvae-train',
         (*MELODY_ARGS, f'--config.train.batch_size={DEVICES * 3 // 2}'),
         (f'train.batch_size={DEVICES * 3 // 2} does not split evenly over {DEVICES} devices',
          f'use a multiple of {DEVICES}')),
    Case('train-resume-with-another-model-config', 'musicvae-train',
         ('--config=cat-mel_2bar_small:tiny', '--data={mel_data}', '--workdir={mel2}'),
         ("{mel2} holds a run of 'cat-mel_2bar_small' with a different config",
          'model.z_size {mel2_z_size} -> {tiny_z_size}',
          'Resume it with the config it was started with, or choose a new --workdir')),
    Case('train-coordinator-without-multihost', 'musicvae-train',
         (*MELODY_ARGS, '--coordinator_address=localhost:12345'),
         ('--coordinator_address/--num_processes/--process_id need --multihost',)),
    Case('train-multihost-with-part-of-the-addresses', 'musicvae-train',
         (*MELODY_ARGS, '--multihost', '--coordinator_address=localhost:12345'),
         ('give all three of --coordinator_address, --num_processes and --process_id',)),
    Case('train-dropout', 'musicvae-train',
         (*MELODY_ARGS, '--config.model.dropout_keep_prob=0.75'),
         ('model.dropout_keep_prob < 1 is not supported',)),
    Case('train-workdir-is-a-file', 'musicvae-train',
         ('--config=cat-mel_2bar_small:tiny', '--data={mel_data}', '--workdir={text_mid}'),
         ('--workdir={text_mid} is an existing file, not a folder', 'give a folder')),
    # ---- musicvae-evaluate and musicvae-export ------------------------------------------------
    Case('evaluate-workdir-without-checkpoint', 'musicvae-evaluate',
         ('--workdir={no_checkpoint}', '--data={mel_data}'),
         ('{no_checkpoint} has no checkpoint yet', 'train first',
          'musicvae-train ... --workdir={no_checkpoint}')),
    Case('evaluate-step-without-checkpoint', 'musicvae-evaluate',
         ('--workdir={mel2}', '--data={mel_data}', '--step=7'),
         ('--step=7: {mel2} has no checkpoint of step 7', '(it has steps: {mel2_step})',
          'omit --step for the latest')),
    Case('evaluate-data-and-midi', 'musicvae-evaluate',
         ('--workdir=bundled:cat-mel_2bar_small', '--data={mel_data}', '--midi={midi}/melody'),
         ('give one of --data=<prepared dataset> or --midi=<folder of .mid files>',)),
    Case('evaluate-midi-no-such-folder', 'musicvae-evaluate',
         ('--workdir=bundled:cat-mel_2bar_small', '--midi={no_such_dir}'),
         ('--midi={no_such_dir}: no such folder',)),
    Case('evaluate-exported-model-with-step', 'musicvae-evaluate',
         ('--workdir=bundled:cat-mel_2bar_small', '--data={mel_data}', '--step=7'),
         ('--step=7:', 'is an exported model; it holds the parameters of step', 'Omit --step')),
    Case('evaluate-card-of-a-training-workdir', 'musicvae-evaluate',
         ('--workdir={mel2}', '--card'),
         ('{mel2} has no model card', 'Cards come with the bundled models')),
    Case('train-init-from-a-model-of-other-widths', 'musicvae-train',
         (*MELODY_ARGS, '--config.train.init_from=bundled:cat-drums_2bar_small'),
         ('config.train.init_from=bundled:cat-drums_2bar_small does not fit this config',
          'Start from a model trained with the same config and widths')),
    Case('export-workdir-without-checkpoint', 'musicvae-export',
         ('--workdir={no_checkpoint}', '--output=model'),
         ('{no_checkpoint} has no checkpoint and no params.npz',
          'train first (musicvae-train --workdir={no_checkpoint})')),
    Case('export-step-without-checkpoint', 'musicvae-export',
         ('--workdir={mel2}', '--output=model', '--step=7'),
         ('--step=7: {mel2} has no checkpoint of step 7', '(it has steps: {mel2_step})')),
    # ---- the generating commands: the model -----------------------------------------------------
    Case('sample-workdir-is-not-a-model', 'musicvae-sample', ('--workdir={empty_dir}',),
         ('{empty_dir} is not a training workdir: it has no config.json',
          'Pass the --workdir a musicvae-train run wrote to')),
    Case('interpolate-workdir-is-not-a-model', 'musicvae-interpolate',
         ('--workdir={empty_dir}', '--input_midi_1={midi}/' + TUNE,
          '--input_midi_2={midi}/' + TUNE),
         ('{empty_dir} is not a training workdir: it has no config.json',)),
    Case('reconstruct-unknown-bundled-model', 'musicvae-reconstruct',
         ('--workdir=bundled:cat-mel_16bar', '--input_midi={midi}/' + TUNE),
         ("no bundled model is called 'cat-mel_16bar'",
          'Did you mean bundled:hierdec-mel_16bar?', 'Bundled: {bundled}',
          '--workdir=<a training workdir>')),
    Case('attributes-unknown-bundled-model', 'musicvae-attributes',
         ('apply', '--workdir=bundled:cat-mel_16bar', '--input_midi={midi}/' + TUNE,
          '--attribute=note_density'),
         ("no bundled model is called 'cat-mel_16bar'", 'Bundled: {bundled}')),
    Case('sample-step-without-checkpoint', 'musicvae-sample', ('--workdir={mel2}', '--step=7'),
         ('--step=7: {mel2} has no checkpoint of step 7', '(it has steps: {mel2_step})')),
    # ---- the generating commands: the input MIDI (a good first input is not written either) ---
    Case('reconstruct-text-file-named-mid', 'musicvae-reconstruct',
         ('--input_midi={midi}/' + TUNE + ',{text_mid}',),
         ('musicvae-reconstruct: error: {text_mid}: {reason_not_midi}',)),
    Case('reconstruct-corrupt-midi', 'musicvae-reconstruct',
         ('--input_midi={midi}/' + TUNE + ',{corrupt_mid}',),
         ('musicvae-reconstruct: error: {corrupt_mid}: {reason_corrupt}',)),
    Case('attributes-corrupt-midi', 'musicvae-attributes',
         ('apply', '--input_midi={corrupt_mid}', '--attribute=note_density'),
         ('musicvae-attributes: error: {corrupt_mid}: {reason_corrupt}',)),
    Case('reconstruct-missing-file', 'musicvae-reconstruct',
         ('--input_midi={midi}/' + TUNE + ',{no_such_mid}',),
         ('musicvae-reconstruct: error: {no_such_mid}: ', 'No such file')),
    Case('interpolate-missing-file', 'musicvae-interpolate',
         ('--input_midi_1={midi}/' + TUNE, '--input_midi_2={no_such_mid}'),
         ('musicvae-interpolate: error: {no_such_mid}: ', 'No such file')),
    Case('reconstruct-drums-for-the-melody-model', 'musicvae-reconstruct',
         ('--input_midi={midi}/' + TUNE + ',{midi}/' + DRUMS,),
         ('musicvae-reconstruct: error: cannot encode {midi}/' + DRUMS + ': no melody notes',
          'only drum notes')),
    Case('reconstruct-chords-for-the-melody-model', 'musicvae-reconstruct',
         ('--input_midi={midi}/' + SONG, '--strict_monophony'),
         ('cannot encode {midi}/' + SONG + ': polyphonic', '--strict_monophony')),
    Case('attributes-chords-for-the-melody-model', 'musicvae-attributes',
         ('apply', '--input_midi={midi}/' + SONG, '--attribute=note_density',
          '--strict_monophony'),
         ('cannot encode {midi}/' + SONG + ': polyphonic', '--strict_monophony')),
    # ---- the generating commands: flags -------------------------------------------------------
    Case('sample-with-magentas-flags', 'musicvae-sample',
         ('--config=cat-mel_2bar_big', '--checkpoint_file=cat-mel_2bar_big.tar', '--mode=sample'),
         ("--config is a flag of Magenta's music_vae_generate", 'musicvae-generate',
          '--workdir=')),
    Case('interpolate-with-magentas-checkpoint-flag', 'musicvae-interpolate',
         ('--checkpoint_file=cat-mel_2bar_big.tar',),
         ("--checkpoint_file is a flag of Magenta's music_vae_generate", 'musicvae-generate')),
    Case('sample-negative-temperature', 'musicvae-sample', ('--temperature=-0.5',),
         ('--temperature=-0.5: use 0 (greedy) or a positive value',)),
    Case('interpolate-negative-temperature', 'musicvae-interpolate',
         ('--input_midi_1={midi}/' + TUNE, '--input_midi_2={midi}/' + TUNE, '--temperature=-1'),
         ('--temperature=-1.0: use 0 (greedy) or a positive value',)),
    Case('reconstruct-negative-temperature', 'musicvae-reconstruct',
         ('--input_midi={midi}/' + TUNE, '--temperature=-1'),
         ('--temperature=-1.0: use 0 (greedy) or a positive value',)),
    Case('attributes-negative-temperature', 'musicvae-attributes',
         ('apply', '--input_midi={midi}/' + TUNE, '--attribute=note_density', '--temperature=-1'),
         ('--temperature=-1.0: use 0 (greedy) or a positive value',)),
    Case('sample-nan-temperature', 'musicvae-sample', ('--temperature=nan',),
         ('--temperature=nan: use 0 (greedy) or a positive value (a finite number)',)),
    Case('sample-infinite-temperature', 'musicvae-sample', ('--temperature=inf',),
         ('--temperature=inf: use 0 (greedy) or a positive value (a finite number)',)),
    Case('interpolate-infinite-temperature', 'musicvae-interpolate',
         ('--input_midi_1={midi}/' + TUNE, '--input_midi_2={midi}/' + TUNE, '--temperature=inf'),
         ('--temperature=inf: use 0 (greedy) or a positive value (a finite number)',)),
    Case('attributes-unknown-attribute', 'musicvae-attributes',
         ('apply', '--input_midi={midi}/' + TUNE, '--attribute=loudness'),
         ('--attribute=loudness: {bundled_vectors} has {melody_attributes}.',)),
    Case('attributes-without-subcommand', 'musicvae-attributes',
         ('--input_midi={midi}/' + TUNE, '--attribute=note_density'),
         ('musicvae-attributes compute ... or musicvae-attributes apply ...', '--help')),
    Case('attributes-unknown-subcommand', 'musicvae-attributes',
         ('steer', '--input_midi={midi}/' + TUNE, '--attribute=note_density'),
         ('musicvae-attributes compute ... or musicvae-attributes apply ...',)),
    Case('groove-with-a-melody-model', 'musicvae-groove',
         ('--mode=humanize', '--workdir={mel2}', '--input_midi={midi}/drums/' + GROOVE_BEAT),
         ('is not a GrooVAE model; this command needs a GrooVAE model',)),
    Case('groove-output-dir-is-a-file', 'musicvae-groove',
         ('--mode=humanize', '--workdir={empty_dir}', '--input_midi={midi}/drums/' + GROOVE_BEAT,
          '--output_dir={text_mid}'),
         ('--output_dir={text_mid} is an existing file, not a folder',)),
    # ---- output paths: refused before the model is loaded (--workdir is no model here) -------
    Case('sample-output-dir-is-a-file', 'musicvae-sample',
         ('--workdir={empty_dir}', '--output_dir={text_mid}'),
         ('--output_dir={text_mid} is an existing file, not a folder',)),
    Case('sample-output-dir-under-a-file', 'musicvae-sample',
         ('--workdir={empty_dir}', '--output_dir={text_mid}/out'),
         ('--output_dir={text_mid}/out: {text_mid} is a file',)),
    Case('interpolate-output-dir-is-a-file', 'musicvae-interpolate',
         ('--workdir={empty_dir}', '--input_midi_1={midi}/' + TUNE,
          '--input_midi_2={midi}/' + TUNE, '--output_dir={text_mid}'),
         ('--output_dir={text_mid} is an existing file, not a folder',)),
    Case('reconstruct-output-dir-is-a-file', 'musicvae-reconstruct',
         ('--workdir={empty_dir}', '--input_midi={midi}/' + TUNE, '--output_dir={text_mid}'),
         ('--output_dir={text_mid} is an existing file, not a folder',)),
    Case('attributes-output-dir-is-a-file', 'musicvae-attributes',
         ('apply', '--workdir={empty_dir}', '--input_midi={midi}/' + TUNE,
          '--attribute=note_density', '--output_dir={text_mid}'),
         ('--output_dir={text_mid} is an existing file, not a folder',)),
    Case('attributes-output-is-a-folder', 'musicvae-attributes',
         ('compute', '--workdir={empty_dir}', '--data={mel_data}', '--output={empty_dir}'),
         ('--output={empty_dir} is a folder; give a file name',)),
    Case('export-output-is-a-file', 'musicvae-export',
         ('--workdir={no_checkpoint}', '--output={text_mid}'),
         ('--output={text_mid} is an existing file, not a folder',)),
    Case('evaluate-json-is-a-folder', 'musicvae-evaluate',
         ('--workdir={no_checkpoint}', '--data={mel_data}', '--json={empty_dir}'),
         ('--json={empty_dir} is a folder; give a file name',)),
    # ---- musicvae-dmelodies -------------------------------------------------------------------
    Case('dmelodies-missing-output', 'musicvae-dmelodies', ('--items=5',),
         ('--output is required',)),
    Case('dmelodies-no-items', 'musicvae-dmelodies', ('--output=dm', '--items=0'),
         ('--items=0', 'not a positive integer')),
    Case('dmelodies-output-is-a-file', 'musicvae-dmelodies', ('--output={text_mid}', '--items=5'),
         ('--output={text_mid} is an existing file, not a folder',)),
    Case('dmelodies-dataset-too-large', 'musicvae-dmelodies',
         ('--output=dm', '--items=5', '--dataset=ds', '--train_items=2000000'),
         ("--train_items=2000000: dMelodies' train pool has 948326 items",)),
    # ---- musicvae-swap ------------------------------------------------------------------------
    Case('swap-missing-global', 'musicvae-swap', ('--workdir={mel2}', '--local_midi=b.mid'),
         ('--global_midi is required',)),
    Case('swap-not-a-dsae-workdir', 'musicvae-swap',
         ('--workdir={mel2}', '--global_midi={midi}/melody/nottingham_ashover1.mid',
          '--local_midi={midi}/melody/nottingham_ashover10.mid'),
         ('{mel2} holds a cat-mel_2bar_small model; swaps need a DSAE or TS-DSAE workdir',)),
    # ---- musicvae-pretrain / musicvae-finetune -------------------------------------------------
    Case('pretrain-not-a-pretraining-config', 'musicvae-pretrain', MELODY_ARGS,
         ('--config=cat-mel_2bar_small:tiny is not a pretraining config: use one of musicoder',)),
    Case('finetune-missing-split-file', 'musicvae-finetune',
         ('--task=melody', '--pretrained={mel2}', '--output=out'),
         ('--split_file is required',)),
    Case('finetune-not-a-musicoder-workdir', 'musicvae-finetune',
         ('--task=melody', '--pretrained={mel2}', '--split_file=s.csv', '--output=out'),
         ('{mel2} holds a cat-mel_2bar_small model; --pretrained needs a musicvae-pretrain '
          'workdir',)),
    Case('finetune-no-such-split-file', 'musicvae-finetune',
         ('--task=composer', '--config=musicoder:tiny', '--split_file=s.csv', '--output=out'),
         ('--split_file=s.csv: no such file',)),
    Case('finetune-pretrained-and-config', 'musicvae-finetune',
         ('--task=composer', '--config=musicoder:tiny', '--pretrained={mel2}',
          '--split_file=s.csv', '--output=out'),
         ('give --pretrained=<musicvae-pretrain workdir>, or --config=musicoder',)),
    Case('finetune-song-head-for-composer', 'musicvae-finetune',
         ('--task=composer', '--config=musicoder:tiny', '--head=song', '--split_file=s.csv',
          '--output=out'),
         ('--head=song is for --task=melody',)),
    Case('finetune-note-pretraining-with-an-encoder', 'musicvae-finetune',
         ('--task=melody', '--pretrained={mel2}', '--head=song', '--pretrain_steps=10',
          '--split_file=s.csv', '--output=out'),
         ('--pretrain_steps is for --head=song with --config=musicoder',)),
    # ---- musicvae-chords ----------------------------------------------------------------------
    Case('chords-missing-input', 'musicvae-chords', ('--output_dir=out',),
         ('--input_midi is required',)),
    Case('chords-no-such-input', 'musicvae-chords', ('--input_midi={no_such_mid}',
                                                     '--output_dir=out'),
         ('--input_midi={no_such_mid} does not exist', 'pass a .mid file or a folder')),
    Case('chords-corrupt-file', 'musicvae-chords', ('--input_midi={corrupt_mid}',
                                                    '--output_dir=out'),
         ('{corrupt_mid}: not a readable MIDI file',)),
    Case('chords-drums-only', 'musicvae-chords', ('--input_midi={midi}/' + DRUMS,
                                                  '--output_dir=out'),
         ('{midi}/' + DRUMS + ': no pitched notes',)),
    Case('chords-model-folder-without-a-model', 'musicvae-chords',
         ('--input_midi={midi}/' + SONG, '--output_dir=out', '--model={empty_dir}'),
         ('{empty_dir} is not a chord/key model folder: it has no params.npz',)),
    Case('chords-output-is-a-file', 'musicvae-chords', ('--input_midi={midi}/' + SONG,
                                                        '--output_dir={text_mid}'),
         ('--output_dir={text_mid} is an existing file, not a folder',)),
    # ---- musicvae-generate (Magenta's music_vae_generate flags) -------------------------------
    Case('generate-missing-checkpoint', 'musicvae-generate',
         ('--config=cat-mel_2bar_big', '--checkpoint_file={no_such_dir}/x.tar', '--mode=sample'),
         ('{no_such_dir}/x.tar: no such workdir, checkpoint or file',)),
    Case('generate-interpolate-without-inputs', 'musicvae-generate',
         ('--config=cat-mel_2bar_small', '--checkpoint_file={magenta}/mel2',
          '--mode=interpolate'),
         ('--mode=interpolate needs --input_midi_1 and --input_midi_2',)),
    # ---- musicvae-import-magenta --------------------------------------------------------------
    Case('import-missing-checkpoint', 'musicvae-import-magenta',
         ('--config=cat-mel_2bar_small', '--checkpoint={no_such_dir}/model.ckpt-3',
          '--workdir=imported'),
         ('{no_such_dir}/model.ckpt-3.index: checkpoint index file is missing',
          'pass a checkpoint prefix')),
    Case('import-melody-checkpoint-as-drums', 'musicvae-import-magenta',
         ('--config=cat-drums_2bar_small', '--checkpoint={magenta}/mel2', '--workdir=imported'),
         ('config cat-drums_2bar_small: {magenta}/mel2: ', 'this model expects',
          'Use the config the checkpoint was trained with')),
    Case('import-into-a-workdir-that-holds-a-run', 'musicvae-import-magenta',
         ('--config=cat-mel_2bar_small', '--checkpoint={magenta}/mel2', '--workdir={mel2}'),
         ('{mel2} already holds a run', 'import into a new --workdir')),
    # ---- a prepared dataset damaged after prepare (a shard cut short) ---------------------------
    Case('evaluate-dataset-with-a-truncated-shard', 'musicvae-evaluate',
         ('--workdir=bundled:cat-mel_2bar_small', '--data={cut_data}'),
         ('{cut_data}: shard {cut_shard} is missing or truncated; run musicvae-prepare again',)),
]


@pytest.fixture(scope='module')
def paths(tmp_path_factory, shared_midi, melody_dataset) -> dict[str, str]:
  """Every file and folder the cases name, made from real data; the values the lines hold."""
  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import midi_io
  from musicvae_jax.generation import attribute_metrics
  from musicvae_jax.generation import attribute_vectors
  from musicvae_jax.generation import model_files
  from musicvae_jax.input_pipeline.prepare import prepare
  from musicvae_jax.magenta import importer
  from musicvae_jax import checkpointing
  # pylint: enable=import-outside-toplevel
  if not (MAGENTA / 'mel2').is_dir():
    pytest.fail(f'The Magenta checkpoint fixtures are missing at {MAGENTA}.')
  tmp = tmp_path_factory.mktemp('error_paths')
  drum_midi = tmp / 'drum_midi'
  drum_midi.mkdir()
  for p in sorted(shared_midi.joinpath('drums').glob('freedoom_d_dm0*_drumtrack.mid'))[:3]:
    shutil.copy(p, drum_midi / p.name)
  prepare(config_boundary.run_spec(config_lib.get_config('cat-drums_2bar_small')), drum_midi, tmp / 'drum_data',
          workers=1, progress=False)
  mel2 = tmp / 'mel2'
  record = importer.import_checkpoint(MAGENTA / 'mel2', 'cat-mel_2bar_small', mel2,
                                      log=lambda _: None)
  # What musicvae-train writes before its first checkpoint.
  tiny = config_lib.get_config('cat-mel_2bar_small:tiny')
  checkpointing.check_or_write_config(tmp / 'no_checkpoint', tiny, write=True)
  (tmp / 'empty').mkdir()
  shutil.copytree(melody_dataset, tmp / 'cut_data')
  cut_shard = json.loads((tmp / 'cut_data' / 'dataset.json').read_text())['splits']['eval'][
      'shards'][0]
  with open(tmp / 'cut_data' / cut_shard, 'r+b') as f:
    f.truncate(f.seek(0, 2) // 2)
  bundled = model_files.bundled_model_dir()
  return dict(
      cut_data=str(tmp / 'cut_data'), cut_shard=cut_shard,
      midi=str(shared_midi), magenta=str(MAGENTA), mel_data=str(melody_dataset),
      drum_data=str(tmp / 'drum_data'), mel2=str(mel2), mel2_step=str(record['global_step']),
      mel2_z_size=str(checkpointing.load_config(mel2).model.z_size),
      tiny_z_size=str(tiny.model.z_size), no_checkpoint=str(tmp / 'no_checkpoint'),
      empty_dir=str(tmp / 'empty'), no_such_dir=str(tmp / 'no_such_folder'),
      no_such_mid=str(tmp / 'no_such_tune.mid'),
      text_mid=str(broken_midi.make('not_midi', tmp / 'readme.mid')),
      corrupt_mid=str(broken_midi.make('corrupt', tmp / 'corrupt.mid')),
      reason_not_midi=midi_io.REASONS['not_midi'], reason_corrupt=midi_io.REASONS['corrupt'],
      bundled=', '.join(model_files.BUNDLED_PREFIX + n for n in model_files.bundled_names()),
      bundled_vectors=str(bundled / attribute_vectors.FILE),
      melody_attributes=', '.join(sorted(attribute_metrics.attribute_names('melody'))))


def test_the_table_sweeps_every_console_script():
  setup = (pathlib.Path(__file__).resolve().parents[2] / 'setup.py').read_text()
  scripts = set(re.findall(r"'(musicvae-[a-z-]+)=musicvae_jax\.cli\.\w+:run'", setup))
  assert scripts and scripts == {c.prog for c in CASES}
  assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
def test_error_is_one_line_naming_the_problem(case, paths, tmp_path):
  if case.id.startswith('train-batch') and DEVICES < 2:
    pytest.skip(f'needs several devices (XLA_FLAGS gives {DEVICES})')
  cwd = tmp_path / 'cwd'
  cwd.mkdir()
  proc = subprocess.run(argv(case.prog, *(a.format(**paths) for a in case.args)),
                        capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
  shown = (f'{case.prog} {" ".join(a.format(**paths) for a in case.args)}\nexit '
           f'{proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}')
  assert 'Traceback' not in proc.stdout + proc.stderr, shown
  assert proc.returncode == case.status, shown
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, shown
  line = lines[0]
  assert line.startswith(f'{case.prog}: error: '), shown
  for must in case.must:
    if isinstance(must, re.Pattern):
      assert must.search(line), f'{must.pattern!r} not in\n{line}'
    else:
      assert must.format(**paths) in line, f'{must.format(**paths)!r} not in\n{line}'
  assert not proc.stdout, shown
  # Refused before writing anything: no output folder, no first good input's reconstruction.
  assert not list(cwd.iterdir()), f'{case.id} left {sorted(p.name for p in cwd.iterdir())}'
