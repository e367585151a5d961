"""``rescan train``: train a classifier on labelled footage and export it.

    rescan train --data DIR [--annotations CSV] --out MODEL_DIR
        [--epochs N] [--max-steps N] [--batch-size N] [--seed S] [--fps F]
        [--input-size 96 | 128x96] [--labels a,b] [--backbone NAME]
        [--window T] [--val-fraction 0.25] [--learning-rate LR]
        [--name NAME] [--version V] [--description TEXT] [--no-augment]

Steps: check the data (``annotations``), split it by video
(``video_split``), decode samples through the scan's decode path
(``training_data``), fit with tf.data input, augmentation and per-label
positive weights, score the validation videos, and export under the model
contract (``export``) with threshold 0.5.  ``rescan evaluate`` then picks
the threshold.  The same seed gives the same model.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import sys
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=wrong-import-position
import keras
import numpy as np
import tensorflow as tf

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
class TrainConfig:
  """Everything that determines a trained model."""
  data: str
  out: str
  annotations: Optional[str] = None
  epochs: int = 10
  max_steps: Optional[int] = None
  batch_size: int = 32
  seed: int = 0
  fps: float = 2.0
  input_width: int = 96
  input_height: int = 96
  labels: Optional[Tuple[str, ...]] = None
  backbone: str = 'mobilenet_v3_small'
  window: int = 1
  val_fraction: float = 0.25
  learning_rate: float = 2e-3
  augment: bool = True
  name: str = 'rescan-classifier'
  version: Optional[str] = None
  description: str = ('Trained with rescan train (model/README.md); '
                      'threshold_selection says how the threshold was set.')


@dataclasses.dataclass(frozen=True)
class TrainResult:
  model_dir: str
  classifier: keras.Model
  metadata: Dict
  seconds: float


def _positive_int(text: str) -> int:
  value = int(text)
  if value <= 0:
    raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
  return value


def _positive_float(text: str) -> float:
  value = float(text)
  if not value > 0:
    raise argparse.ArgumentTypeError(f'must be > 0, got {text}')
  return value


def _fraction(text: str) -> float:
  value = float(text)
  if not 0.0 <= value < 1.0:
    raise argparse.ArgumentTypeError(f'must be in [0, 1), got {text}')
  return value


def _label_list(text: str) -> Optional[Tuple[str, ...]]:
  try:
    return annotations.parse_label_list(text)
  except DataError as exc:
    raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_input_size(text: str) -> Tuple[int, int]:
  """``"96"`` -> ``(96, 96)``; ``"128x96"`` -> ``(128, 96)`` (width, height)."""
  parts = text.lower().split('x')
  try:
    values = [int(p) for p in parts]
  except ValueError as exc:
    raise argparse.ArgumentTypeError(
        f'input size must be N or WIDTHxHEIGHT, got {text!r}') from exc
  if len(values) not in (1, 2) or min(values) < 16:
    raise argparse.ArgumentTypeError(
        f'input size must be N or WIDTHxHEIGHT, each >= 16, got {text!r}')
  return (values[0], values[-1])


def build_arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='rescan train',
      description='Train a multi-label frame classifier on a folder of '
      'videos plus annotations.csv (video,label,start_s,end_s) and export '
      'it under the model contract (model/README.md).')
  parser.add_argument('--data', required=True, metavar='DIR',
                      help='folder of videos; every video in it is data')
  parser.add_argument('--annotations', metavar='CSV',
                      help='annotations (default DIR/annotations.csv)')
  parser.add_argument('--out', required=True, metavar='MODEL_DIR',
                      help='where the model is written (replaced whole)')
  parser.add_argument('--epochs', type=_positive_int, default=10,
                      help='passes over the training samples (default '
                      '%(default)s)')
  parser.add_argument('--max-steps', type=_positive_int, default=None,
                      help='stop after this many batches in total')
  parser.add_argument('--batch-size', type=_positive_int, default=32)
  parser.add_argument('--seed', type=int, default=0,
                      help='split, initialisation, shuffling and '
                      'augmentation seed (default %(default)s)')
  parser.add_argument('--fps', type=_positive_float, default=2.0,
                      help='samples per second, recorded as the model\'s fps '
                      '(default %(default)s)')
  parser.add_argument('--input-size', type=parse_input_size, default='96',
                      metavar='N|WxH', help='model input size (default 96)')
  parser.add_argument('--labels', type=_label_list, default=None,
                      metavar='A,B',
                      help='label list (default: the sorted labels of the CSV)')
  parser.add_argument('--backbone', choices=architecture.BACKBONES,
                      default='mobilenet_v3_small')
  parser.add_argument('--window', type=_positive_int, default=1,
                      help='frames per model input; > 1 makes a temporal '
                      'model (default %(default)s)')
  parser.add_argument('--val-fraction', type=_fraction, default=0.25,
                      help='share of videos held out for validation, split '
                      'by video (default %(default)s)')
  parser.add_argument('--learning-rate', type=_positive_float, default=2e-3)
  parser.add_argument('--no-augment', dest='augment', action='store_false',
                      help='turn off augmentation (crop-and-zoom, flip, '
                      'brightness, contrast)')
  parser.add_argument('--name', default='rescan-classifier',
                      help='model name in rescan_model.json')
  parser.add_argument('--version', default=None,
                      help='model version (default: UTC time of training)')
  parser.add_argument('--description', default=TrainConfig.description,
                      help='free text in rescan_model.json')
  return parser


def parse_args(argv: Sequence[str]) -> TrainConfig:
  args = build_arg_parser().parse_args(list(argv))
  width, height = args.input_size
  return TrainConfig(
      data=args.data, out=args.out, annotations=args.annotations,
      epochs=args.epochs, max_steps=args.max_steps,
      batch_size=args.batch_size, seed=args.seed, fps=args.fps,
      input_width=width, input_height=height,
      labels=args.labels,
      backbone=args.backbone, window=args.window,
      val_fraction=args.val_fraction, learning_rate=args.learning_rate,
      augment=args.augment, name=args.name, version=args.version,
      description=args.description)


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
  """

  def __init__(self, sampled: SampledVideos, rows: np.ndarray,
               labels: Sequence[str], loss: keras.losses.Loss,
               batch_size: int):
    super().__init__()
    self._sampled, self._rows, self._labels = sampled, rows, labels
    self._loss, self._batch_size = loss, batch_size

  def on_epoch_end(self, epoch, logs=None):
    scores = predict(self.model, self._sampled, self._rows, self._batch_size)
    targets = self._sampled.targets[self._rows]
    if logs is not None:
      logs['val_loss'] = float(self._loss(targets, scores))
      for column, label in enumerate(self._labels):
        pr_auc = metrics.average_precision(targets[:, column],
                                           scores[:, column])
        if pr_auc is not None:
          logs[f'val_pr_auc_{label}'] = pr_auc


def _label_counts(targets: np.ndarray, labels: Sequence[str]) -> str:
  positives = targets.sum(axis=0).astype(int)
  return ', '.join(f'{label} {count}' for label, count in
                   zip(labels, positives))


def fit(config: TrainConfig, sampled: SampledVideos, train_rows: np.ndarray,
        validation_rows: np.ndarray, labels: Sequence[str],
        log: Log = print) -> keras.Model:
  """Builds and trains the classifier; deterministic for a seed."""
  make_deterministic(config.seed)
  train_targets = sampled.targets[train_rows]
  weights = weighted_loss.positive_weights(train_targets)
  log('positive weights: ' + ', '.join(
      f'{l} {w:.1f}' for l, w in zip(labels, weights)))
  steps_per_epoch = max(len(train_rows) // min(config.batch_size,
                                               len(train_rows)), 1)
  total_steps = config.epochs * steps_per_epoch
  if config.max_steps is not None:
    total_steps = min(total_steps, config.max_steps)
  epochs = math.ceil(total_steps / steps_per_epoch)
  log(f'training {total_steps} steps ({epochs} epoch(s) of '
      f'{steps_per_epoch} batches of {config.batch_size})')
  classifier = architecture.build_classifier(
      config.backbone, config.input_height, config.input_width, len(labels),
      config.window)
  schedule = keras.optimizers.schedules.CosineDecay(
      config.learning_rate, decay_steps=max(total_steps, 1), alpha=0.05)
  loss = weighted_loss.WeightedBinaryCrossentropy(weights)
  classifier.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss,
                     jit_compile=False)
  augmentation = (input_pipeline.Augmentation() if config.augment else
                  input_pipeline.NO_AUGMENTATION)
  train_data = input_pipeline.training_dataset(
      sampled.frames, sampled.windows[train_rows], train_targets,
      config.batch_size, config.seed, augmentation)
  callbacks = [StopAfterSteps(total_steps)]
  if len(validation_rows):
    callbacks.append(ValidationReport(sampled, validation_rows, labels, loss,
                                      config.batch_size))
  verbose = 1 if sys.stdout.isatty() else 2
  classifier.fit(train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                 shuffle=False, callbacks=callbacks, verbose=verbose)
  return classifier


def predict(classifier: keras.Model, sampled: SampledVideos,
            rows: np.ndarray, batch_size: int = 64) -> np.ndarray:
  """Scores of the in-memory model for some rows, float32 ``[n, C]``."""
  if not len(rows):
    return np.zeros((0, classifier.output_shape[-1]), np.float32)
  dataset = input_pipeline.inference_dataset(
      sampled.frames, sampled.windows[rows], sampled.targets[rows],
      batch_size)
  return classifier.predict(dataset, verbose=0)   # targets are ignored


def validation_metrics(classifier: keras.Model, sampled: SampledVideos,
                       rows: np.ndarray, labels: Sequence[str],
                       threshold: float) -> Dict:
  """Per-label PR AUC and P/R/F1 at ``threshold`` on the validation videos."""
  if not len(rows):
    return {'videos': 0, 'note': 'no validation videos (--val-fraction 0)'}
  scores = predict(classifier, sampled, rows)
  videos = sorted({sampled.videos[i] for i in sampled.video_index[rows]})
  return {'videos': len(videos), 'samples': int(len(rows)),
          'labels': metrics.label_report(sampled.targets[rows], scores,
                                         labels, {'at_threshold': threshold})}


def model_metadata(config: TrainConfig, data: annotations.LabelledVideos,
                   split: video_split.VideoSplit, samples: Dict[str, int],
                   validation: Dict, seconds: float) -> Dict:
  """``rescan_model.json`` of a freshly trained model: the contract's keys
  with threshold 0.5, plus how, when and from what it was made."""
  version = config.version or datetime.datetime.now(
      datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
  metadata = export.contract_metadata(
      config.name, version, data.labels, config.input_height,
      config.input_width, config.fps, DEFAULT_THRESHOLD, config.window)
  metadata.update({
      'description': config.description,
      'backbone': config.backbone,
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
  })
  return metadata


def train(config: TrainConfig, log: Log = print) -> TrainResult:
  """Runs the whole training and export; returns the model and its record."""
  started = time.monotonic()
  data = annotations.load_labelled_videos(config.data, config.annotations,
                                          config.labels)
  split = video_split.split_by_video(data.videos, data.positive_videos(),
                                     config.val_fraction, config.seed)
  log(f'data: {len(data.videos)} videos, {len(data.annotations)} labelled '
      f'intervals, labels {", ".join(data.labels)}')
  log(f'split by video (seed {config.seed}): {len(split.train)} training, '
      f'{len(split.validation)} validation')
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
      f'({_label_counts(sampled.targets[train_rows], data.labels)} positive), '
      f'{len(validation_rows)} validation '
      f'({_label_counts(sampled.targets[validation_rows], data.labels)} '
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


def main(argv: Optional[Sequence[str]] = None) -> int:
  config = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    train(config, log=lambda line: print(line, flush=True))
  except (DataError, FileExistsError) as exc:
    print(f'rescan train: error: {exc}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
