"""``rescan train``: train a classifier on labelled footage and export it
(``model.train``; with ``--modality audio``, ``model.audio_train``).

    rescan train --data DIR [--annotations CSV] --out MODEL_DIR
        [--modality visual|audio]
        [--epochs N] [--max-steps N] [--batch-size N] [--seed S] [--fps F]
        [--input-size 96 | 128x96] [--labels a,b] [--backbone NAME]
        [--window T] [--val-fraction 0.25] [--learning-rate LR]
        [--sample-rate 16000] [--window-seconds 0.96] [--hop-seconds 0.48]
        [--name NAME] [--version V] [--description TEXT] [--no-augment]

``--fps``, ``--input-size``, ``--backbone`` and ``--window`` are the visual
model's; ``--sample-rate``, ``--window-seconds`` and ``--hop-seconds`` the
audio model's (the audio contract's bounds apply).

A data error (bad annotations, undecodable videos) or an existing model
folder is one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence, Tuple, Union

from model import annotations
from model import architecture
from model import audio_train
from model import train as model_train
from model.annotations import DataError
from pipeline.inference import contract
from pipeline.runtime import flag_types
from pipeline.runtime import usage


def _label_list(text: str) -> Optional[Tuple[str, ...]]:
  try:
    return annotations.parse_label_list(text)
  except DataError as exc:
    raise argparse.ArgumentTypeError(str(exc)) from exc


# Bounds of the numeric flags: no value can make training unbounded, and
# what the model records (fps, input size, window) is what the scan's
# model contract admits.
MAX_EPOCHS = flag_types.in_range('epochs', int, 1, 10_000)
MAX_STEPS = flag_types.in_range('max_steps', int, 1, 10_000_000)
BATCH_SIZE = flag_types.in_range('batch_size', int, 1, 4096)
SEED = flag_types.in_range('seed', int, 0, 2**32 - 1)
FPS = flag_types.in_range('fps', float, 0, contract.MAX_FPS, low_open=True)
WINDOW = flag_types.in_range('window', int, 1, contract.MAX_WINDOW)
SAMPLE_RATE = flag_types.in_range('sample_rate', int, contract.MIN_SAMPLE_RATE,
                                   contract.MAX_SAMPLE_RATE)
WINDOW_SECONDS = flag_types.in_range('window_seconds', float,
                                     contract.MIN_AUDIO_HOP_SECONDS,
                                     contract.MAX_AUDIO_WINDOW_SECONDS)
HOP_SECONDS = flag_types.in_range('hop_seconds', float,
                                  contract.MIN_AUDIO_HOP_SECONDS,
                                  contract.MAX_AUDIO_WINDOW_SECONDS)
LEARNING_RATE = flag_types.in_range('learning_rate', float, 0, 10,
                                    low_open=True)


def parse_input_size(text: str) -> Tuple[int, int]:
  """``"96"`` -> ``(96, 96)``; ``"128x96"`` -> ``(128, 96)`` (width, height)."""
  parts = text.lower().split('x')
  try:
    values = [int(p) for p in parts]
  except ValueError as exc:
    raise argparse.ArgumentTypeError(
        f'input size must be N or WIDTHxHEIGHT, got {text!r}') from exc
  if (len(values) not in (1, 2) or min(values) < 16
      or max(values) > contract.MAX_INPUT_SIDE):
    raise argparse.ArgumentTypeError(
        f'input size must be N or WIDTHxHEIGHT, each in [16, '
        f'{contract.MAX_INPUT_SIDE}], got {text!r}')
  return (values[0], values[-1])


def build_arg_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan train',
      description='Train a multi-label frame classifier (or, with '
      '--modality audio, an audio event classifier) on a folder of videos '
      'plus annotations.csv (video,label,start_s,end_s[,modality]) and '
      'export it under the model contract (model/README.md).')
  parser.add_argument('--data', required=True, metavar='DIR',
                      help='folder of videos; every video in it is data')
  parser.add_argument('--annotations', metavar='CSV',
                      help='annotations (default DIR/annotations.csv)')
  parser.add_argument('--out', required=True, metavar='MODEL_DIR',
                      help='where the model is written (replaced whole)')
  parser.add_argument('--modality', choices=annotations.MODALITIES,
                      default=annotations.VISUAL,
                      help='visual: a frame classifier; audio: an audio '
                      'event classifier on the soundtrack, trained on the '
                      'annotations\' audio rows (default %(default)s)')
  parser.add_argument('--epochs', type=MAX_EPOCHS, default=10,
                      help='passes over the training samples (default '
                      '%(default)s)')
  parser.add_argument('--max-steps', type=MAX_STEPS,
                      default=None,
                      help='stop after this many batches in total')
  parser.add_argument('--batch-size', type=BATCH_SIZE, default=32)
  parser.add_argument('--seed', type=SEED, default=0,
                      help='split, initialisation, shuffling and '
                      'augmentation seed (default %(default)s)')
  parser.add_argument('--fps', type=FPS, default=2.0,
                      help='samples per second, recorded as the model\'s fps '
                      '(default %(default)s)')
  parser.add_argument('--input-size', type=parse_input_size, default='96',
                      metavar='N|WxH', help='model input size (default 96)')
  parser.add_argument('--labels', type=_label_list, default=None,
                      metavar='A,B',
                      help='label list (default: the sorted labels of the CSV)')
  parser.add_argument('--backbone', choices=architecture.BACKBONES,
                      default='mobilenet_v3_small')
  parser.add_argument('--window', type=WINDOW, default=1,
                      help='frames per model input; > 1 makes a temporal '
                      'model (default %(default)s)')
  parser.add_argument('--val-fraction', type=flag_types.fraction_below_one,
                      default=0.25,
                      help='share of videos held out for validation, split '
                      'by video (default %(default)s)')
  parser.add_argument('--learning-rate', type=LEARNING_RATE,
                      default=2e-3)
  audio = audio_train.AudioTrainConfig
  parser.add_argument('--sample-rate', type=SAMPLE_RATE,
                      default=audio.sample_rate,
                      help='audio: samples per second of the model\'s '
                      'waveform (default %(default)s)')
  parser.add_argument('--window-seconds', type=WINDOW_SECONDS,
                      default=audio.window_seconds,
                      help='audio: seconds per window (default %(default)s)')
  parser.add_argument('--hop-seconds', type=HOP_SECONDS,
                      default=audio.hop_seconds,
                      help='audio: seconds between window starts (default '
                      '%(default)s)')
  parser.add_argument('--no-augment', dest='augment', action='store_false',
                      help='turn off augmentation (crop-and-zoom, flip, '
                      'brightness, contrast)')
  parser.add_argument('--name', default='rescan-classifier',
                      help='model name in rescan_model.json')
  parser.add_argument('--version', default=None,
                      help='model version (default: UTC time of training)')
  parser.add_argument('--description',
                      default=model_train.TrainConfig.description,
                      help='free text in rescan_model.json')
  return parser


AnyConfig = Union[model_train.TrainConfig, audio_train.AudioTrainConfig]


def _audio_config(parser: argparse.ArgumentParser,
                  args: argparse.Namespace) -> audio_train.AudioTrainConfig:
  """The audio settings, checked as the audio contract will check them."""
  name = args.name
  if name == parser.get_default('name'):
    name = audio_train.AudioTrainConfig.name
  try:
    contract.parse_audio_metadata('--modality audio', {
        contract.MODALITY_KEY: contract.AUDIO, 'name': name,
        'version': args.version or 'v', 'labels': ['x'], 'threshold': 0.5,
        'sample_rate': args.sample_rate,
        'window_seconds': args.window_seconds,
        'hop_seconds': args.hop_seconds})
  except contract.ContractError as exc:
    parser.error(str(exc).split('contract: ', 1)[-1])
  return audio_train.AudioTrainConfig(
      data=args.data, out=args.out, annotations=args.annotations,
      epochs=args.epochs, max_steps=args.max_steps,
      batch_size=args.batch_size, seed=args.seed,
      sample_rate=args.sample_rate, window_seconds=args.window_seconds,
      hop_seconds=args.hop_seconds, labels=args.labels,
      val_fraction=args.val_fraction, learning_rate=args.learning_rate,
      augment=args.augment, name=name, version=args.version,
      description=args.description)


def parse_args(argv: Sequence[str]) -> AnyConfig:
  parser = build_arg_parser()
  args = parser.parse_args(list(argv))
  if args.modality == annotations.AUDIO:
    return _audio_config(parser, args)
  width, height = args.input_size
  return model_train.TrainConfig(
      data=args.data, out=args.out, annotations=args.annotations,
      epochs=args.epochs, max_steps=args.max_steps,
      batch_size=args.batch_size, seed=args.seed, fps=args.fps,
      input_width=width, input_height=height,
      labels=args.labels,
      backbone=args.backbone, window=args.window,
      val_fraction=args.val_fraction, learning_rate=args.learning_rate,
      augment=args.augment, name=args.name, version=args.version,
      description=args.description)


def main(argv: Optional[Sequence[str]] = None) -> int:
  config = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    run = (audio_train.train_audio
           if isinstance(config, audio_train.AudioTrainConfig)
           else model_train.train)
    run(config, log=lambda line: print(line, flush=True))
  except (DataError, FileExistsError) as exc:
    print(f'rescan train: error: {exc}', file=sys.stderr)
    return 2
  return 0
