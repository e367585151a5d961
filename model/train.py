"""Training a classifier on labelled footage and exporting it.

``train(TrainConfig)`` does the work; ``rescan train``
(``pipeline.cli.train``) turns its flags into the ``TrainConfig``.

Steps: check the data (``annotations``), split it by video
(``video_split``), decode samples through the scan's decode path
(``training_data``), fit with tf.data input, augmentation and per-label
positive weights, score the validation videos, and export under the model
contract (``export``) with threshold 0.5.  ``rescan evaluate`` then picks
the threshold.  The same seed gives the same model.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import os
import sys
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=wrong-import-position
import numpy as np

from pipeline.runtime.tensorflow_import import import_tensorflow

tf = import_tensorflow()
import keras

from model import annotations
from model import architecture
from model import export
from model import input_pipeline
from model import metrics
from model import report_tables
from model import training_data
from model import video_split
from model import weighted_loss
from model.annotations import DataError
from model.training_data import SampledVideos

DEFAULT_THRESHOLD = 0.5
Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class CommonTrainConfig:
  """The settings every modality's training shares."""
  data: str
  out: str
  annotations: Optional[str] = None
  epochs: int = 10
  max_steps: Optional[int] = None
  batch_size: int = 32
  seed: int = 0
  labels: Optional[Tuple[str, ...]] = None
  val_fraction: float = 0.25
  learning_rate: float = 2e-3
  augment: bool = True
  name: str = 'rescan-classifier'
  version: Optional[str] = None
  description: str = ('Trained with rescan train (model/README.md); '
                      'threshold_selection says how the threshold was set.')


@dataclasses.dataclass(frozen=True)
class TrainConfig(CommonTrainConfig):
  """Everything that determines a trained (visual) model."""
  fps: float = 2.0
  input_width: int = 96
  input_height: int = 96
  backbone: str = 'mobilenet_v3_small'
  window: int = 1


@dataclasses.dataclass(frozen=True)
class TrainResult:
  model_dir: str
  classifier: keras.Model
  metadata: Dict
  seconds: float


def make_deterministic(seed: int) -> None:
  """Seeds Python, numpy, TF and Keras; makes TF ops deterministic."""
  keras.utils.set_random_seed(seed)
  tf.config.experimental.enable_op_determinism()


class StopAfterSteps(keras.callbacks.Callback):
  """Ends training after a total number of batches (``--max-steps``)."""

  def __init__(self, max_steps: int):
    super().__init__()
    self._max_steps = max_steps
    self._steps = 0

  def on_train_batch_end(self, batch, logs=None):
    self._steps += 1
    if self._steps >= self._max_steps:
      self.model.stop_training = True


class ValidationReport(keras.callbacks.Callback):
  """Adds validation loss and exact per-label PR AUC to each epoch's line.

  (Keras' own ``AUC`` metric bins scores into fixed thresholds and cannot
  resolve the scores near 0 and 1 that class weighting produces.)
  ``score`` gives the model's scores of the validation examples, whose
  targets are ``targets``.
  """

  def __init__(self, score: Callable[[keras.Model], np.ndarray],
               targets: np.ndarray, labels: Sequence[str],
               loss: keras.losses.Loss):
    super().__init__()
    self._score, self._targets, self._labels = score, targets, labels
    self._loss = loss

  def on_epoch_end(self, epoch, logs=None):
    scores = self._score(self.model)
    targets = self._targets
    if logs is not None:
      logs['val_loss'] = float(self._loss(targets, scores))
      for column, label in enumerate(self._labels):
        pr_auc = metrics.average_precision(targets[:, column],
                                           scores[:, column])
        if pr_auc is not None:
          logs[f'val_pr_auc_{label}'] = pr_auc


def label_counts(targets: np.ndarray, labels: Sequence[str]) -> str:
  positives = targets.sum(axis=0).astype(int)
  return ', '.join(f'{label} {count}' for label, count in
                   zip(labels, positives))


def fit_model(config: CommonTrainConfig,
              build: Callable[[], keras.Model], train_targets: np.ndarray,
              dataset: Callable[[], tf.data.Dataset],
              validation: Optional[Tuple[Callable[[keras.Model], np.ndarray],
                                         np.ndarray]],
              labels: Sequence[str], log: Log = print) -> keras.Model:
  """Trains what ``build`` makes on ``dataset``'s endless batches with
  per-label positive weights, Adam and cosine decay; deterministic for a
  seed.  ``validation``: how to score the validation examples, and their
  targets (``ValidationReport``), or None."""
  make_deterministic(config.seed)
  weights = weighted_loss.positive_weights(train_targets)
  log('positive weights: ' + ', '.join(
      f'{l} {w:.1f}' for l, w in zip(labels, weights)))
  examples = len(train_targets)
  steps_per_epoch = max(examples // min(config.batch_size, examples), 1)
  total_steps = config.epochs * steps_per_epoch
  if config.max_steps is not None:
    total_steps = min(total_steps, config.max_steps)
  epochs = math.ceil(total_steps / steps_per_epoch)
  log(f'training {total_steps} steps ({epochs} epoch(s) of '
      f'{steps_per_epoch} batches of {config.batch_size})')
  classifier = build()
  schedule = keras.optimizers.schedules.CosineDecay(
      config.learning_rate, decay_steps=max(total_steps, 1), alpha=0.05)
  loss = weighted_loss.WeightedBinaryCrossentropy(weights)
  classifier.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss,
                     jit_compile=False)
  callbacks = [StopAfterSteps(total_steps)]
  if validation is not None:
    callbacks.append(ValidationReport(*validation, labels, loss))
  verbose = 1 if sys.stdout.isatty() else 2
  classifier.fit(dataset(), epochs=epochs, steps_per_epoch=steps_per_epoch,
                 shuffle=False, callbacks=callbacks, verbose=verbose)
  return classifier


def fit(config: TrainConfig, sampled: SampledVideos, train_rows: np.ndarray,
        validation_rows: np.ndarray, labels: Sequence[str],
        log: Log = print) -> keras.Model:
  """Builds and trains the classifier; deterministic for a seed."""
  train_targets = sampled.targets[train_rows]
  augmentation = (input_pipeline.Augmentation() if config.augment else
                  input_pipeline.NO_AUGMENTATION)
  validation = None
  if len(validation_rows):
    validation = (lambda model: predict(model, sampled, validation_rows,
                                        config.batch_size),
                  sampled.targets[validation_rows])
  return fit_model(
      config,
      lambda: architecture.build_classifier(
          config.backbone, config.input_height, config.input_width,
          len(labels), config.window),
      train_targets,
      lambda: input_pipeline.training_dataset(
          sampled.frames, sampled.windows[train_rows], train_targets,
          config.batch_size, config.seed, augmentation),
      validation, labels, log)


def predict(classifier: keras.Model, sampled: SampledVideos,
            rows: np.ndarray, batch_size: int = 64) -> np.ndarray:
  """Scores of the in-memory model for some rows, float32 ``[n, C]``."""
  if not len(rows):
    return np.zeros((0, classifier.output_shape[-1]), np.float32)
  dataset = input_pipeline.inference_dataset(
      sampled.frames, sampled.windows[rows], sampled.targets[rows],
      batch_size)
  return classifier.predict(dataset, verbose=0)   # targets are ignored


def validation_report(scores: np.ndarray, targets: np.ndarray,
                      videos: Sequence[str], labels: Sequence[str],
                      threshold: float) -> Dict:
  """Per-label PR AUC and P/R/F1 at ``threshold`` on the validation
  examples (of ``videos``)."""
  if not len(targets):
    return {'videos': 0, 'note': 'no validation videos (--val-fraction 0)'}
  return {'videos': len(videos), 'samples': int(len(targets)),
          'labels': metrics.label_report(targets, scores, labels,
                                         {'at_threshold': threshold})}


def validation_metrics(classifier: keras.Model, sampled: SampledVideos,
                       rows: np.ndarray, labels: Sequence[str],
                       threshold: float) -> Dict:
  """Per-label PR AUC and P/R/F1 at ``threshold`` on the validation videos."""
  return validation_report(
      predict(classifier, sampled, rows), sampled.targets[rows],
      sorted({sampled.videos[i] for i in sampled.video_index[rows]}),
      labels, threshold)


def version_of(version: Optional[str]) -> str:
  """``--version``, else the UTC time of training."""
  return version or datetime.datetime.now(
      datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')


def provenance(config, data: annotations.LabelledVideos,
               split: video_split.VideoSplit, samples: Dict[str, int],
               validation: Dict, seconds: float) -> Dict:
  """How, when and from what a model was made: the keys beside the
  contract's in ``rescan_model.json`` (``config`` a training config
  dataclass with a ``description``)."""
  return {
      'description': config.description,
      'created_at': export.utc_now_iso(),
      'code_version': export.code_version(),
      'training': {
          'data_fingerprint_sha256': data.fingerprint,
          'videos': {'train': list(split.train),
                     'validation': list(split.validation)},
          'samples': samples,
          'config': {k: v for k, v in dataclasses.asdict(config).items()
                     if k not in ('data', 'out', 'annotations',
                                  'description')},
          'seconds': round(seconds, 1),
      },
      'metrics': {'validation': validation},
      'threshold_selection': {'rule': 'default 0.5 (not yet evaluated)'},
  }


def model_metadata(config: TrainConfig, data: annotations.LabelledVideos,
                   split: video_split.VideoSplit, samples: Dict[str, int],
                   validation: Dict, seconds: float) -> Dict:
  """``rescan_model.json`` of a freshly trained model: the contract's keys
  with threshold 0.5, plus how, when and from what it was made."""
  metadata = export.contract_metadata(
      config.name, version_of(config.version), data.labels,
      config.input_height, config.input_width, config.fps,
      DEFAULT_THRESHOLD, config.window)
  metadata.update(provenance(config, data, split, samples, validation,
                             seconds))
  metadata['backbone'] = config.backbone
  return metadata


def load_and_split(config: CommonTrainConfig, log: Log,
                   modality: str = annotations.VISUAL
                   ) -> Tuple[annotations.LabelledVideos,
                              video_split.VideoSplit]:
  """The checked data (the annotations' rows of ``modality``) and its
  split by video."""
  data = annotations.load_labelled_videos(config.data, config.annotations,
                                          config.labels, modality=modality)
  split = video_split.split_by_video(data.videos, data.positive_videos(),
                                     config.val_fraction, config.seed)
  log(f'data: {len(data.videos)} videos, {len(data.annotations)} labelled '
      f'intervals ({modality}), labels {", ".join(data.labels)}')
  log(f'split by video (seed {config.seed}): {len(split.train)} training, '
      f'{len(split.validation)} validation')
  return data, split


def train(config: TrainConfig, log: Log = print) -> TrainResult:
  """Runs the whole training and export; returns the model and its record."""
  started = time.monotonic()
  data, split = load_and_split(config, log)
  log(f'decoding samples at {config.fps:g} fps, '
      f'{config.input_width}x{config.input_height}, window {config.window}')
  sampled = training_data.sample_videos(
      data, config.fps, (config.input_width, config.input_height),
      config.window)
  train_rows = sampled.rows_of(split.train)
  validation_rows = sampled.rows_of(split.validation)
  if not len(train_rows):
    raise DataError('the training videos gave no samples')
  log(f'samples: {len(train_rows)} training '
      f'({label_counts(sampled.targets[train_rows], data.labels)} positive), '
      f'{len(validation_rows)} validation '
      f'({label_counts(sampled.targets[validation_rows], data.labels)} '
      'positive)')
  classifier = fit(config, sampled, train_rows, validation_rows, data.labels,
                   log)
  validation = validation_metrics(classifier, sampled, validation_rows,
                                  data.labels, DEFAULT_THRESHOLD)
  if 'labels' in validation:
    log(f'validation ({validation["videos"]} videos) at threshold '
        f'{DEFAULT_THRESHOLD}:\n' + report_tables.format_label_report(
            validation['labels'], 'at_threshold'))
  metadata = model_metadata(config, data, split, {
      'train': int(len(train_rows)), 'validation': int(len(validation_rows))
  }, validation, time.monotonic() - started)
  model_dir = export.export_model(classifier, config.out, metadata)
  seconds = time.monotonic() - started
  log(f'exported {model_dir} in {seconds:.0f} s; next: rescan evaluate '
      f'--model {config.out} --data HELD_OUT_DIR')
  return TrainResult(model_dir, classifier, metadata, seconds)
