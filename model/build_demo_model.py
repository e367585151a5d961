"""Rebuild the shipped demo model, ``model/demo_model``, from nothing.

    python -m model.build_demo_model [--workdir .cache/demo_dataset]
                                     [--out model/demo_model] [--reuse-data]

Runs the documented toolkit commands in order and prints each one:

1. ``python -m model.demo_dataset`` three times with different seeds: a
   training set, a calibration set (to choose the threshold) and a test
   set (to report numbers nobody tuned on);
2. ``rescan train`` on the training set;
3. ``rescan evaluate`` on the calibration set, which writes the threshold
   for precision 0.9 into ``rescan_model.json``;
4. ``rescan evaluate --no-write-threshold`` on the test set: the numbers
   model/README.md reports.

Same code, same seeds, same model.  It is a demo, not a real detector.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from typing import Callable, List, Optional, Sequence, Tuple

from model import demo_dataset
from pipeline.cli import main as rescan


@dataclasses.dataclass(frozen=True)
class DemoSplit:
  name: str
  seed: int
  videos: int


SPLITS = (DemoSplit('train', 7, 200), DemoSplit('calibration', 8, 50),
          DemoSplit('test', 9, 60))
VIDEO_SECONDS = (4.0, 6.0)
TARGET_PRECISION = '0.9'
DESCRIPTION = ('DEMO, NOT A REAL DETECTOR: trained only on synthetic '
               'first-person footage (model/first_person_scene.py); see '
               'model/README.md.')


def dataset_args(workdir: str, split: DemoSplit) -> List[str]:
  return ['--out', os.path.join(workdir, split.name), '--videos',
          str(split.videos), '--seed', str(split.seed), '--min-seconds',
          str(VIDEO_SECONDS[0]), '--max-seconds', str(VIDEO_SECONDS[1])]


def train_args(workdir: str, out: str) -> List[str]:
  return ['--data', os.path.join(workdir, 'train'), '--out', out,
          '--backbone', 'mobilenet_v3_small', '--input-size', '96',
          '--fps', '5', '--epochs', '15', '--batch-size', '32',
          '--seed', '7', '--val-fraction', '0.2',
          '--name', 'demo-first-person-weapon', '--version', '1',
          '--description', DESCRIPTION]


def evaluation_args(workdir: str, out: str, split: str,
                    write_threshold: bool = True) -> List[str]:
  """``rescan evaluate`` on one split, its report in
  ``out/evaluation/SPLIT``; the calibration split writes the threshold."""
  return (['--model', out, '--data', os.path.join(workdir, split),
           '--target-precision', TARGET_PRECISION, '--out-dir',
           os.path.join(out, 'evaluation', split)] +
          ([] if write_threshold else ['--no-write-threshold']))


def calibration_args(workdir: str, out: str) -> List[str]:
  return evaluation_args(workdir, out, 'calibration')


def test_args(workdir: str, out: str) -> List[str]:
  return evaluation_args(workdir, out, 'test', write_threshold=False)


def announce(command: str, args: Sequence[str]) -> None:
  print(f'\n$ {command} {shlex.join(args)}', flush=True)


def build(prog: str, description: str, default_workdir: str,
          default_out: str, splits: Sequence[DemoSplit],
          dataset: Tuple[str, Callable[[Sequence[str]], int]],
          make_dataset_args: Callable[[str, DemoSplit], List[str]],
          make_train_args: Callable[[str, str], List[str]],
          argv: Optional[Sequence[str]]) -> int:
  """Generates the data sets (``dataset``: its module's name and
  ``main``), trains, evaluates on the calibration set (writing the
  threshold) and on the test set (report only), announcing each command."""
  parser = argparse.ArgumentParser(prog=prog, description=description)
  parser.add_argument('--workdir', default=default_workdir)
  parser.add_argument('--out', default=default_out)
  parser.add_argument('--reuse-data', action='store_true',
                      help='keep generated data sets that already exist')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  started = time.monotonic()
  module, dataset_main = dataset
  for split in splits:
    folder = os.path.join(args.workdir, split.name)
    if args.reuse_data and os.path.exists(os.path.join(folder,
                                                       'annotations.csv')):
      print(f'reusing {folder}')
      continue
    announce(f'python -m {module}', make_dataset_args(args.workdir, split))
    dataset_main(make_dataset_args(args.workdir, split))
  generated = time.monotonic()
  steps = (('train', make_train_args(args.workdir, args.out)),
           ('evaluate', calibration_args(args.workdir, args.out)),
           ('evaluate', test_args(args.workdir, args.out)))
  for command, step_args in steps:
    announce(f'rescan {command}', step_args)
    code = rescan.main([command, *step_args])
    if code:
      return code
  finished = time.monotonic()
  print(f'\n{args.out}: data {generated - started:.0f} s, training and '
        f'evaluation {finished - generated:.0f} s, total '
        f'{finished - started:.0f} s')
  return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
  return build('python -m model.build_demo_model', __doc__.split('\n\n')[0],
               os.path.join('.cache', 'demo_dataset'),
               os.path.join('model', 'demo_model'), SPLITS,
               ('model.demo_dataset', demo_dataset.main), dataset_args,
               train_args, argv)


if __name__ == '__main__':
  sys.exit(main())
