"""Training an audio event classifier and exporting it (``rescan train
--modality audio``).

``train_audio(AudioTrainConfig)`` does the work, with the visual
toolkit's steps and pieces: the annotations' audio rows
(``annotations``, ``modality`` ``audio``), the split by video
(``video_split``), windows cut by the scan's own audio path
(``audio_data``), per-label positive weights (``weighted_loss``), exact
PR AUC on the validation videos each epoch (``train.ValidationReport``),
and export under the audio contract (``export``) with threshold 0.5;
``rescan evaluate`` then picks the threshold.  The same seed gives the
same model.

**The model** (``build_audio_classifier``) takes float32 waveforms
``[N, S]`` at the model's rate; its first layer, ``LogMel``, is the front
end: ``tf.signal.stft`` (25-ms frames every 10 ms, Hann window), the
magnitude through ``tf.signal.linear_to_mel_weight_matrix`` (64 bands,
60 Hz up to 7.8 kHz or Nyquist) and ``log(mel + 1e-3)``; so feature
extraction lives inside the exported SavedModel.  Then batch
normalisation, four conv blocks (16, 32, 48, 64 filters, 3x3, max-pooled),
global max and average pooling, dropout and a sigmoid per label.

**Augmentation** (stateless, one draw per window and batch): a random
gain of -12 to +6 dB (clipped to [-1, 1], as decoded audio is) and faint
white noise.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from pipeline.runtime.tensorflow_import import import_tensorflow

tf = import_tensorflow()
import keras  # pylint: disable=wrong-import-order,wrong-import-position

from model import annotations  # pylint: disable=wrong-import-position
from model import audio_data
from model import export
from model import input_pipeline
from model import report_tables
from model import train as visual_train
from model.annotations import DataError
from model.audio_data import AudioWindows
from pipeline.inference import contract as model_contract

DEFAULT_THRESHOLD = visual_train.DEFAULT_THRESHOLD
_FILTERS = (16, 32, 48, 64)
MEL_BINS = 64
FRAME_SECONDS = 0.025
STEP_SECONDS = 0.010
LOWEST_HZ = 60.0
HIGHEST_HZ = 7800.0
LOG_OFFSET = 1e-3
GAIN_DB = (-12.0, 6.0)
NOISE_LEVEL = 0.003


@dataclasses.dataclass(frozen=True)
class AudioTrainConfig(visual_train.CommonTrainConfig):
  """Everything that determines a trained audio model."""
  name: str = 'rescan-audio-classifier'
  sample_rate: int = 16_000
  window_seconds: float = 0.96
  hop_seconds: float = 0.48


@keras.saving.register_keras_serializable(package='rescan')
class LogMel(keras.layers.Layer):
  """float32 waveforms ``[N, S]`` -> log-mel ``[N, frames, MEL_BINS, 1]``."""

  def __init__(self, sample_rate: int, **kwargs):
    super().__init__(**kwargs)
    self.sample_rate = int(sample_rate)
    self.frame_length = round(FRAME_SECONDS * self.sample_rate)
    self.frame_step = round(STEP_SECONDS * self.sample_rate)
    self.fft_length = 1 << (self.frame_length - 1).bit_length()
    self.mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        MEL_BINS, self.fft_length // 2 + 1, self.sample_rate, LOWEST_HZ,
        min(HIGHEST_HZ, self.sample_rate / 2.0))

  def call(self, waveform):
    spectrum = tf.abs(tf.signal.stft(
        tf.cast(waveform, tf.float32), self.frame_length, self.frame_step,
        self.fft_length, pad_end=False))
    mel = tf.tensordot(spectrum, self.mel_matrix, 1)
    return tf.math.log(mel + LOG_OFFSET)[..., tf.newaxis]

  def compute_output_shape(self, input_shape):
    frames = None
    if input_shape[-1] is not None:
      frames = 1 + (input_shape[-1] - self.frame_length) // self.frame_step
    return (input_shape[0], frames, MEL_BINS, 1)

  def get_config(self):
    return {**super().get_config(), 'sample_rate': self.sample_rate}


def build_audio_classifier(sample_rate: int, window_samples: int,
                           num_labels: int, dropout: float = 0.2
                           ) -> keras.Model:
  """Waveform ``[N, S]`` (named ``waveform``) to scores ``[N, C]``."""
  if num_labels < 1:
    raise ValueError(f'need at least one label, got {num_labels}')
  inputs = keras.Input((window_samples,), dtype='float32',
                       name=model_contract.AUDIO_INPUT_NAME)
  x = LogMel(sample_rate, name='log_mel')(inputs)
  x = keras.layers.BatchNormalization(name='feature_norm')(x)
  for number, filters in enumerate(_FILTERS):
    x = keras.layers.Conv2D(filters, 3, padding='same', use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.99)(x)
    x = keras.layers.ReLU()(x)
    if number < len(_FILTERS) - 1:
      x = keras.layers.MaxPooling2D(2)(x)
  x = keras.layers.Concatenate()([keras.layers.GlobalMaxPooling2D()(x),
                                  keras.layers.GlobalAveragePooling2D()(x)])
  x = keras.layers.Dropout(dropout)(x)
  outputs = keras.layers.Dense(num_labels, activation='sigmoid',
                               name='scores')(x)
  return keras.Model(inputs, outputs, name='log_mel_cnn')


def augment_waveforms(waves: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """A random gain and faint noise per window (stateless for ``seed``)."""
  batch = tf.shape(waves)[0]
  draws = tf.random.stateless_uniform([batch, 1], seed=seed)
  low, high = GAIN_DB
  gain = 10.0 ** ((low + (high - low) * draws) / 20.0)
  noise = tf.random.stateless_normal(tf.shape(waves), seed=seed + 1)
  return tf.clip_by_value(waves * gain + NOISE_LEVEL * noise, -1.0, 1.0)


def training_dataset(waveforms: np.ndarray, rows: np.ndarray,
                     targets: np.ndarray, batch_size: int, seed: int,
                     augment: bool) -> tf.data.Dataset:
  """Endless shuffled ``(waveforms, targets)`` batches of ``rows``."""
  if not len(rows):
    raise ValueError('no training examples')
  waves = tf.constant(waveforms)

  def prepare(step, batch):
    indices, labels = batch
    x = tf.gather(waves, indices)
    if augment:
      x = augment_waveforms(x, tf.stack([tf.cast(seed, tf.int64), step]))
    return x, labels

  return input_pipeline.shuffled_batches(rows, targets[rows], batch_size,
                                         seed, prepare)


def predict(classifier: keras.Model, windows: AudioWindows,
            rows: np.ndarray, batch_size: int = 128) -> np.ndarray:
  """Scores of the in-memory model for some rows, float32 ``[n, C]``."""
  if not len(rows):
    return np.zeros((0, classifier.output_shape[-1]), np.float32)
  return classifier.predict(windows.waveforms[rows], batch_size=batch_size,
                            verbose=0)


def fit(config: AudioTrainConfig, windows: AudioWindows,
        train_rows: np.ndarray, validation_rows: np.ndarray,
        labels: Sequence[str], log=print) -> keras.Model:
  """Builds and trains the classifier; deterministic for a seed."""
  validation = None
  if len(validation_rows):
    validation = (lambda model: predict(model, windows, validation_rows),
                  windows.targets[validation_rows])
  return visual_train.fit_model(
      config,
      lambda: build_audio_classifier(
          config.sample_rate, windows.waveforms.shape[1], len(labels)),
      windows.targets[train_rows],
      lambda: training_dataset(windows.waveforms, train_rows,
                               windows.targets, config.batch_size,
                               config.seed, config.augment),
      validation, labels, log)


def train_audio(config: AudioTrainConfig,
                log=print) -> visual_train.TrainResult:
  """Runs the whole training and export; returns the model and its record."""
  started = time.monotonic()
  data, split = visual_train.load_and_split(config, log, annotations.AUDIO)
  grid = audio_data.grid_of(config.sample_rate, config.window_seconds,
                            config.hop_seconds)
  log(f'cutting audio windows: {config.sample_rate} Hz, '
      f'{config.window_seconds:g} s every {config.hop_seconds:g} s')
  windows = audio_data.window_videos(data, grid)
  silent = [v for v, s in zip(windows.videos, windows.statuses)
            if s != 'ok']
  if silent:
    log(f'{len(silent)} video(s) without usable audio (no windows): '
        + ', '.join(silent[:5]))
  train_rows = windows.clear_rows(windows.rows_of(split.train))
  validation_rows = windows.clear_rows(windows.rows_of(split.validation))
  if not len(train_rows):
    raise DataError('the training videos gave no audio windows')
  log(f'windows: {len(train_rows)} training ({visual_train.label_counts(windows.targets[train_rows], data.labels)} '
      f'positive), {len(validation_rows)} validation ('
      f'{visual_train.label_counts(windows.targets[validation_rows], data.labels)}'
      f' positive); {int(windows.ambiguous.any(axis=1).sum())} ambiguous '
      'windows left out')
  classifier = fit(config, windows, train_rows, validation_rows,
                   data.labels, log)
  validation = visual_train.validation_report(
      predict(classifier, windows, validation_rows),
      windows.targets[validation_rows],
      sorted({windows.videos[i] for i in
              windows.video_index[validation_rows]}),
      data.labels, DEFAULT_THRESHOLD)
  if 'labels' in validation:
    log(f'validation ({validation["videos"]} videos) at threshold '
        f'{DEFAULT_THRESHOLD}:\n' + report_tables.format_label_report(
            validation['labels'], 'at_threshold'))
  metadata = export.audio_contract_metadata(
      config.name, visual_train.version_of(config.version), data.labels,
      config.sample_rate, config.window_seconds, config.hop_seconds,
      DEFAULT_THRESHOLD)
  metadata.update(visual_train.provenance(
      config, data, split,
      {'train': int(len(train_rows)), 'validation': int(len(validation_rows))},
      validation, time.monotonic() - started))
  metadata['front_end'] = {
      'kind': 'log-mel inside the SavedModel (tf.signal.stft, '
              'linear_to_mel_weight_matrix, log)',
      'mel_bins': MEL_BINS, 'frame_seconds': FRAME_SECONDS,
      'step_seconds': STEP_SECONDS, 'lowest_hz': LOWEST_HZ,
      'highest_hz': min(HIGHEST_HZ, config.sample_rate / 2.0),
      'log_offset': LOG_OFFSET}
  metadata['window_labels'] = (
      f'positive when a window overlaps an interval by at least '
      f'{audio_data.MIN_OVERLAP_FRACTION:g} of the shorter of the two; '
      'smaller overlaps are left out of training')
  model_dir = export.export_model(classifier, config.out, metadata)
  seconds = time.monotonic() - started
  log(f'exported {model_dir} in {seconds:.0f} s; next: rescan evaluate '
      f'--model {config.out} --data HELD_OUT_DIR')
  return visual_train.TrainResult(model_dir, classifier, metadata, seconds)
