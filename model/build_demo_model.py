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
from typing import List, Optional, Sequence

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


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m model.build_demo_model',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--workdir', default=os.path.join('.cache',
                                                        'demo_dataset'))
  parser.add_argument('--out', default=os.path.join('model', 'demo_model'))
  parser.add_argument('--reuse-data', action='store_true',
                      help='keep generated data sets that already exist')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  started = time.monotonic()
  for split in SPLITS:
    folder = os.path.join(args.workdir, split.name)
    if args.reuse_data and os.path.exists(os.path.join(folder,
                                                       'annotations.csv')):
      print(f'reusing {folder}')
      continue
    announce('python -m model.demo_dataset', dataset_args(args.workdir,
                                                           split))
    demo_dataset.main(dataset_args(args.workdir, split))
  generated = time.monotonic()
  steps = (('train', train_args), ('evaluate', calibration_args),
           ('evaluate', test_args))
  for command, make_args in steps:
    step_args = make_args(args.workdir, args.out)
    announce(f'rescan {command}', step_args)
    code = rescan.main([command, *step_args])
    if code:
      return code
  finished = time.monotonic()
  print(f'\ndemo model in {args.out}: data {generated - started:.0f} s, '
        f'training and evaluation {finished - generated:.0f} s, total '
        f'{finished - started:.0f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main())
