"""Rebuild the shipped demo audio model, ``model/demo_audio_model``, from
nothing.

    python -m model.build_demo_audio_model [--workdir .cache/demo_audio_dataset]
                                           [--out model/demo_audio_model]
                                           [--reuse-data]

Runs the documented toolkit commands in order and prints each one, as
``build_demo_model`` does for the visual demo model:

1. ``python -m model.demo_audio_dataset`` three times with different
   seeds: training, calibration (to choose the threshold) and test (to
   report numbers nobody tuned on) sets of short videos whose soundtracks
   are synthetic (``synthetic_audio``);
2. ``rescan train --modality audio`` on the training set;
3. ``rescan evaluate`` on the calibration set, which writes the threshold
   for precision 0.9 into ``rescan_model.json``;
4. ``rescan evaluate --no-write-threshold`` on the test set: the numbers
   model/README.md reports.

Same code, same seeds, same model.  It is trained only on synthetic sound
and is not a real gunfire detector.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence

from model import build_demo_model
from model import demo_audio_dataset
from model.build_demo_model import DemoSplit

SPLITS = (DemoSplit('train', 17, 200), DemoSplit('calibration', 18, 60),
          DemoSplit('test', 19, 80))
VIDEO_SECONDS = 8.0
DESCRIPTION = ('DEMO, NOT A REAL DETECTOR: trained only on synthetic sound '
               '(model/synthetic_audio.py), never on a recording; see '
               'model/README.md.')


def dataset_args(workdir: str, split: DemoSplit) -> List[str]:
  return ['--out', os.path.join(workdir, split.name), '--videos',
          str(split.videos), '--seed', str(split.seed), '--seconds',
          str(VIDEO_SECONDS)]


def train_args(workdir: str, out: str) -> List[str]:
  return ['--modality', 'audio', '--data', os.path.join(workdir, 'train'),
          '--out', out, '--sample-rate', '16000', '--window-seconds', '0.96',
          '--hop-seconds', '0.48', '--epochs', '12', '--batch-size', '32',
          '--seed', '17', '--val-fraction', '0.2',
          '--name', 'demo-synthetic-gunfire', '--version', '1',
          '--description', DESCRIPTION]


def main(argv: Optional[Sequence[str]] = None) -> int:
  return build_demo_model.build(
      'python -m model.build_demo_audio_model', __doc__.split('\n\n')[0],
      os.path.join('.cache', 'demo_audio_dataset'),
      os.path.join('model', 'demo_audio_model'), SPLITS,
      ('model.demo_audio_dataset', demo_audio_dataset.main), dataset_args,
      train_args, argv)


if __name__ == '__main__':
  sys.exit(main())
