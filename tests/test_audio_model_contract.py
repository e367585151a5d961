"""The audio model contract is checked before any work, like the visual one."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline.inference import contract as model_contract
from pipeline.inference.contract import ContractError
from tests.fixtures import audio_model

RATE = 16000
WINDOW_S, HOP_S = 0.5, 0.25
SAMPLES = int(RATE * WINDOW_S)


def _metadata(**overrides):
  metadata = {'name': 'loudness', 'version': '2', 'modality': 'audio',
              'labels': ['gunshot', 'speech'], 'sample_rate': RATE,
              'window_seconds': WINDOW_S, 'hop_seconds': HOP_S,
              'threshold': 0.5}
  metadata.update(overrides)
  return {k: v for k, v in metadata.items() if v is not None}


def _serve(name='waveform', dtype=tf.float32, shape=(None, SAMPLES),
           output='scores', columns=2, scale=1.0):
  """A toy audio model: each score is the window's peak amplitude."""
  @tf.function(input_signature=[tf.TensorSpec(shape, dtype, name=name)])
  def serve(waveform):
    peak = tf.reduce_max(tf.abs(tf.cast(waveform, tf.float32)), axis=1)
    return {output: tf.stack([tf.minimum(peak, 1.0) * scale] * columns,
                             axis=-1)}
  return serve


def _write(path, serve, metadata):
  return audio_model.write_model(path, tf.Module(), serve, metadata)


@pytest.fixture(scope='module')
def good_model(tmp_path_factory):
  return _write(str(tmp_path_factory.mktemp('audio') / 'ok'), _serve(),
                _metadata(provenance='test'))


def test_an_audio_model_obeys_the_contract_and_scores_waveforms(good_model):
  spec = model_contract.resolve_audio_model(good_model)
  assert spec.labels == ('gunshot', 'speech')
  assert (spec.sample_rate, spec.window_samples, spec.hop_samples) == (
      RATE, SAMPLES, SAMPLES // 2)
  assert dict(spec.extra) == {'provenance': 'test'}
  model = model_contract.load_signature(spec)
  waves = np.zeros((3, SAMPLES), np.float32)
  waves[1, 100] = 0.25
  waves[2, 7] = -0.75
  np.testing.assert_allclose(model(waves), [[0, 0], [0.25, 0.25],
                                            [0.75, 0.75]])


def test_an_open_window_length_is_fed_at_the_metadata_length(tmp_path):
  path = _write(str(tmp_path / 'open'), _serve(shape=(None, None)),
                _metadata())
  assert model_contract.resolve_audio_model(path).window_samples == SAMPLES


def test_modalities_are_not_mixed_up(good_model, tmp_path):
  with pytest.raises(ContractError, match='is an audio model'):
    model_contract.resolve_model(good_model)
  visual = str(tmp_path / 'visual')
  os.makedirs(visual)
  with open(os.path.join(visual, 'rescan_model.json'), 'w',
            encoding='utf-8') as f:
    json.dump({'name': 'v', 'version': '1', 'labels': ['x'],
               'input_height': 8, 'input_width': 8, 'fps': 1,
               'threshold': 0.5}, f)
  with pytest.raises(ContractError, match='is a visual model'):
    model_contract.load_audio_model_spec(visual)
  # A visual model may say so; its metadata is otherwise unchanged.
  spec = model_contract.parse_metadata(
      visual, {'name': 'v', 'version': '1', 'labels': ['x'],
               'input_height': 8, 'input_width': 8, 'fps': 1,
               'threshold': 0.5, 'modality': 'visual'})
  assert spec.labels == ('x',) and spec.extra == ()


@pytest.mark.parametrize('overrides,message', [
    ({'modality': 'smell'}, '"modality" must be one of'),
    ({'modality': 3}, '"modality" must be one of'),
    ({'sample_rate': None}, 'missing "sample_rate"'),
    ({'sample_rate': 16000.0}, '"sample_rate" has the wrong type'),
    ({'sample_rate': True}, '"sample_rate" has the wrong type'),
    ({'sample_rate': 10**9}, r'"sample_rate" must be in \[4000, 96000\]'),
    ({'sample_rate': 100}, r'"sample_rate" must be in'),
    ({'window_seconds': 3600}, r'"window_seconds" must be in \[0.01, 30\]'),
    ({'window_seconds': 0}, '"window_seconds" must be in'),
    ({'window_seconds': -1.0}, '"window_seconds" must be in'),
    ({'hop_seconds': 1.0}, r'"hop_seconds" must be in \[0.01, '
                           r'"window_seconds"\]'),
    ({'hop_seconds': 0.0001}, '"hop_seconds" must be in'),
    ({'hop_seconds': '0.25'}, '"hop_seconds" has the wrong type'),
    ({'hop_seconds': 0.25001}, 'whole number of samples'),
    ({'window_seconds': 30, 'hop_seconds': 0.25},
     '"window_seconds" must be at most 64 x "hop_seconds", it is 120 x'),
    ({'labels': []}, 'non-empty list'),
    ({'labels': ['a', 'a']}, 'duplicates'),
    ({'threshold': 1.5}, r'"threshold" must be in \[0, 1\]'),
    ({'name': 'n' * 5000}, '"name" must be at most 1024'),
    ({'note': 'x' * 5000}, '"note" must be at most 1024'),
])
def test_hostile_audio_metadata_is_one_clear_error(tmp_path, overrides,
                                                   message):
  path = str(tmp_path / 'meta')
  os.makedirs(path)
  with open(os.path.join(path, 'rescan_model.json'), 'w',
            encoding='utf-8') as f:
    json.dump(_metadata(**overrides), f)
  with pytest.raises(ContractError, match=message) as raised:
    model_contract.load_audio_model_spec(path)
  assert '\n' not in str(raised.value)


def test_non_finite_numbers_and_non_objects_are_refused(tmp_path):
  path = str(tmp_path / 'nan')
  os.makedirs(path)
  meta = os.path.join(path, 'rescan_model.json')
  with open(meta, 'w', encoding='utf-8') as f:
    f.write(json.dumps(_metadata()).replace('0.5,', 'NaN,', 1))
  with pytest.raises(ContractError, match='not a number'):
    model_contract.load_audio_model_spec(path)
  with open(meta, 'w', encoding='utf-8') as f:
    f.write('[1, 2]')
  with pytest.raises(ContractError, match='must hold a JSON object'):
    model_contract.load_audio_model_spec(path)


@pytest.mark.parametrize('serve,message', [
    (_serve(name='frames'), 'exactly one input "waveform"'),
    (_serve(dtype=tf.int16), 'must be float32, it is int16'),
    (_serve(dtype=tf.float64), 'must be float32, it is float64'),
    (_serve(shape=(None, SAMPLES + 1)), r'shape \[None, 8000\]'),
    (_serve(shape=(None, SAMPLES, 2)), r'shape \[None, 8000\]'),
    (_serve(output='probabilities'), 'must return "scores"'),
    (_serve(columns=3), r'shape \[N, 2\]'),
    (_serve(scale=-1.0), r'in \[0, 1\]'),
    (_serve(scale=float('nan')), r'in \[0, 1\]'),
])
def test_bad_audio_signatures_are_named(tmp_path, serve, message):
  path = _write(str(tmp_path / 'bad'), serve, _metadata())
  with pytest.raises(ContractError, match=message):
    model_contract.resolve_audio_model(path)


def test_the_scan_budget_bounds_a_segments_windows_and_a_batch(good_model):
  spec = model_contract.load_audio_model_spec(good_model)
  # 0.5 s windows every 0.25 s at 16 kHz: 32000 bytes each.
  assert model_contract.audio_input_bytes(spec) == 32000
  model_contract.check_audio_scan_budget(spec, 60.0, 1024)
  with pytest.raises(ContractError, match=r'^--audio-batch-size 40000 .*'
                     r'at most 33554$'):
    model_contract.check_audio_scan_budget(spec, 60.0, 40000,
                                           '--audio-batch-size')
  with pytest.raises(ContractError,
                     match=r'^16778 audio windows per segment .* lower '
                           r'--segment-seconds$'):
    model_contract.check_audio_scan_budget(spec, 4194.25, 1)


def test_an_audio_model_given_as_the_visual_model_is_one_line(good_model,
                                                              tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
      [sys.executable, '-m', 'pipeline.cli', 'scan', '--input',
       str(tmp_path / '*.mp4'), '--output', str(tmp_path / 'out'),
       '--model', good_model],
      cwd=root, env=dict(os.environ, PYTHONPATH=root), capture_output=True,
      text=True, timeout=300, check=False)
  assert result.returncode == 2
  assert result.stderr == (f'rescan: error: {good_model} is an audio model '
                           '("modality": "audio"), not a visual one\n')
  assert not (tmp_path / 'out').exists()
