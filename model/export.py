"""Export under the model contract (pipeline/inference/contract.py).

``export_model`` writes a SavedModel whose ``serving_default`` signature
takes ``frames`` (uint8 ``[None, H, W, 3]``, or ``[None, T, H, W, 3]``) and
returns ``{'scores': float32 [None, C]}``, plus ``rescan_model.json``.  An
audio model (metadata ``"modality": "audio"``) takes ``waveform`` (float32
``[None, S]``) instead; its log-mel front end is a layer of the Keras
model, so it is inside the SavedModel.  The
Keras model is wrapped in a ``tf.Module`` with a ``tf.function`` and saved
with ``tf.saved_model.save``: the scan loads it with
``tf.saved_model.load``, never with Keras.

Besides the contract's keys, ``rescan_model.json`` records how the model
was made: the training data's fingerprint, the metrics, when, and from
which code.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import tempfile
from importlib import metadata as package_metadata
from typing import Any, Dict, Sequence

from apache_beam.io.filesystems import FileSystems

from pipeline.inference import contract as model_contract
from pipeline.runtime.tensorflow_import import import_tensorflow

tf = import_tensorflow()
import keras  # pylint: disable=wrong-import-order,wrong-import-position

PACKAGE = 'archive-rescan'
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServingModule(tf.Module):
  """The contract's signature around a Keras classifier."""

  def __init__(self, classifier: keras.Model, dtype=tf.uint8,
               input_name: str = model_contract.INPUT_NAME):
    super().__init__(name='rescan_classifier')
    self.classifier = classifier
    shape = [None] + list(classifier.input_shape[1:])
    self.serve = tf.function(
        self._serve,
        input_signature=[tf.TensorSpec(shape, dtype, name=input_name)])

  def _serve(self, frames: tf.Tensor) -> Dict[str, tf.Tensor]:
    scores = self.classifier(frames, training=False)
    return {model_contract.OUTPUT_NAME: tf.cast(scores, tf.float32)}


def inference_copy(classifier: keras.Model) -> keras.Model:
  """The same network and weights, without optimizer or training state."""
  # Not keras.models.clone_model: that compiles the copy, and the optimizer
  # (and its slots) would be saved with the model.
  copy = keras.Model.from_config(classifier.get_config())
  copy.set_weights(classifier.get_weights())
  return copy


def code_version() -> str:
  """``git describe`` of the checkout, else the installed package version."""
  try:
    described = subprocess.run(
        ['git', 'describe', '--always', '--dirty', '--tags'],
        cwd=_REPOSITORY, capture_output=True, text=True, timeout=10,
        check=True).stdout.strip()
    if described:
      return f'git:{described}'
  except (OSError, subprocess.SubprocessError):
    pass
  try:
    return f'{PACKAGE}=={package_metadata.version(PACKAGE)}'
  except package_metadata.PackageNotFoundError:
    return 'unknown'


def utc_now_iso() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


def contract_metadata(name: str, version: str, labels: Sequence[str],
                      input_height: int, input_width: int, fps: float,
                      threshold: float, window: int) -> Dict[str, Any]:
  """The keys the contract requires, checked by the pipeline's own parser."""
  document = {'name': name, 'version': version, 'labels': list(labels),
              'input_height': int(input_height),
              'input_width': int(input_width), 'fps': float(fps),
              'threshold': float(threshold), 'window': int(window)}
  model_contract.parse_metadata(name, document)
  return document


def audio_contract_metadata(name: str, version: str, labels: Sequence[str],
                            sample_rate: int, window_seconds: float,
                            hop_seconds: float,
                            threshold: float) -> Dict[str, Any]:
  """An audio model's contract keys, checked by the pipeline's parser."""
  document = {model_contract.MODALITY_KEY: model_contract.AUDIO,
              'name': name, 'version': version, 'labels': list(labels),
              'sample_rate': int(sample_rate),
              'window_seconds': float(window_seconds),
              'hop_seconds': float(hop_seconds),
              'threshold': float(threshold)}
  model_contract.parse_audio_metadata(name, document)
  return document


def check_metadata(path: str, metadata: Dict[str, Any]) -> None:
  """Checks ``rescan_model.json`` content under its modality's contract."""
  if model_contract.modality_of(path, metadata) == model_contract.AUDIO:
    model_contract.parse_audio_metadata(path, metadata)
  else:
    model_contract.parse_metadata(path, metadata)


def _replace_dir(source: str, target: str) -> None:
  """Moves ``source`` to ``target``, replacing an earlier model there."""
  if os.path.exists(target):
    is_model = os.path.exists(os.path.join(target,
                                           model_contract.METADATA_FILE))
    if not is_model and os.listdir(target):
      raise FileExistsError(f'{target} exists and is not a rescan model; '
                            'refusing to replace it')
    shutil.rmtree(target)
  os.replace(source, target)


def export_model(classifier: keras.Model, out_dir: str,
                 metadata: Dict[str, Any]) -> str:
  """Writes the SavedModel and ``rescan_model.json`` to a local ``out_dir``.

  The model is written next to ``out_dir`` first and moved into place, so
  an earlier model there is replaced whole, never mixed with the new one.
  """
  check_metadata(out_dir, metadata)
  audio = model_contract.modality_of(out_dir, metadata) == model_contract.AUDIO
  out_dir = os.path.abspath(out_dir)
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
  try:
    module = (ServingModule(inference_copy(classifier), tf.float32,
                            model_contract.AUDIO_INPUT_NAME) if audio else
              ServingModule(inference_copy(classifier)))
    tf.saved_model.save(module, staging,
                        signatures={model_contract.SIGNATURE: module.serve})
    write_metadata(staging, metadata)
    _replace_dir(staging, out_dir)
  finally:
    if os.path.exists(staging):
      shutil.rmtree(staging)
  return out_dir


def write_metadata(model_dir: str, metadata: Dict[str, Any]) -> None:
  """Writes ``rescan_model.json`` (any Beam filesystem)."""
  check_metadata(model_dir, metadata)
  path = FileSystems.join(model_dir.rstrip('/'), model_contract.METADATA_FILE)
  with FileSystems.create(path, mime_type='application/json') as f:
    f.write((json.dumps(metadata, indent=2) + '\n').encode('utf-8'))


def read_metadata(model_dir: str) -> Dict[str, Any]:
  """The raw ``rescan_model.json`` document, every key kept."""
  document = model_contract.read_metadata(model_dir)
  check_metadata(model_dir, document)
  return document
