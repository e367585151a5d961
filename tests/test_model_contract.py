"""The model contract is checked before any work starts."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from pipeline.inference import contract as model_contract
from pipeline.inference.contract import ContractError

H, W = 32, 40


def _write_module(path, serve, metadata_overrides=None, labels=('a', 'b')):
  module = tf.Module()
  module.serve = serve
  tf.saved_model.save(module, path, signatures={'serving_default': serve})
  metadata = {'name': 'm', 'version': '3', 'labels': list(labels),
              'input_height': H, 'input_width': W, 'fps': 1,
              'threshold': 0.5}
  metadata.update(metadata_overrides or {})
  with open(os.path.join(path, 'rescan_model.json'), 'w',
            encoding='utf-8') as f:
    json.dump(metadata, f)
  return path


def _serve(dtype=tf.uint8, name='frames', output='scores', columns=2,
           scale=1.0, shape=(None, H, W, 3)):
  @tf.function(input_signature=[tf.TensorSpec(shape, dtype, name=name)])
  def serve(frames):
    axes = list(range(1, len(shape)))
    mean = tf.reduce_mean(tf.cast(frames, tf.float32), axis=axes) / 255.
    return {output: tf.stack([mean * scale] * columns, axis=-1)}
  return serve


def test_a_model_written_by_hand_obeys_the_contract(tmp_path):
  path = _write_module(str(tmp_path / 'ok'), _serve())
  spec = model_contract.resolve_model(path)
  assert spec.labels == ('a', 'b') and spec.input_size == (W, H)
  model = model_contract.load_signature(spec)
  scores = model(np.full((3, H, W, 3), 255, np.uint8))
  np.testing.assert_allclose(scores, np.ones((3, 2)))


def test_a_keras_model_exported_with_export_archive_works(tmp_path):
  inputs = tf.keras.Input((H, W, 3), dtype='uint8', name='frames')
  x = tf.keras.layers.Rescaling(1 / 255.)(tf.keras.ops.cast(inputs, 'float32'))
  x = tf.keras.layers.GlobalAveragePooling2D()(x)
  outputs = tf.keras.layers.Dense(2, activation='sigmoid')(x)
  keras_model = tf.keras.Model(inputs, outputs)
  archive = tf.keras.export.ExportArchive()
  archive.track(keras_model)
  archive.add_endpoint(
      'serving_default',
      lambda frames: {'scores': keras_model(frames)},
      input_signature=[tf.TensorSpec((None, H, W, 3), tf.uint8,
                                     name='frames')])
  path = str(tmp_path / 'keras')
  archive.write_out(path)
  with open(os.path.join(path, 'rescan_model.json'), 'w',
            encoding='utf-8') as f:
    json.dump({'name': 'k', 'version': '1', 'labels': ['x', 'y'],
               'input_height': H, 'input_width': W, 'fps': 2,
               'threshold': 0.5}, f)
  spec = model_contract.resolve_model(path)
  frames = np.random.default_rng(0).integers(0, 255, (4, H, W, 3), np.uint8)
  np.testing.assert_allclose(model_contract.load_signature(spec)(frames),
                             keras_model(frames).numpy(), rtol=1e-5)


@pytest.mark.parametrize('serve,overrides,message', [
    (_serve(dtype=tf.float32), None, 'must be uint8'),
    (_serve(name='images'), None, 'exactly one input "frames"'),
    (_serve(output='probabilities'), None, 'must return "scores"'),
    (_serve(columns=3), None, r'shape \[N, 2\]'),
    (_serve(scale=-1.0), None, r'in \[0, 1\]'),
    (_serve(shape=(None, H + 1, W, 3)), None, 'must have shape'),
    (_serve(), {'labels': []}, 'non-empty list'),
    (_serve(), {'threshold': 2}, r'"threshold" must be in \[0, 1\]'),
    (_serve(), {'fps': 'fast'}, '"fps" has the wrong type'),
    (_serve(), {'window': 0}, '"window" must be'),
])
def test_contract_violations_are_named(tmp_path, serve, overrides, message):
  path = _write_module(str(tmp_path / 'bad'), serve, overrides)
  with pytest.raises(ContractError, match=message):
    model_contract.resolve_model(path)


def test_missing_metadata_and_missing_model(tmp_path):
  path = _write_module(str(tmp_path / 'nometa'), _serve())
  os.remove(os.path.join(path, 'rescan_model.json'))
  with pytest.raises(ContractError, match='rescan_model.json is missing'):
    model_contract.resolve_model(path)
  shutil.rmtree(os.path.join(path))
  with pytest.raises(ContractError):
    model_contract.resolve_model(path)


def test_windowed_models_take_five_dimensional_frames(tmp_path):
  path = _write_module(str(tmp_path / 'win'), _serve(shape=(None, 4, H, W, 3)),
                       {'window': 4})
  spec = model_contract.resolve_model(path)
  assert spec.window == 4
  assert model_contract.expected_input_shape(spec) == (None, 4, H, W, 3)
