"""``rescan evaluate``: measure a model, choose its threshold, record both
(``model.evaluate``).

    rescan evaluate --model MODEL_DIR --data DIR [--annotations CSV]
        [--target-precision 0.9] [--out-dir DIR] [--no-write-threshold]

A data error or a model that breaks the contract is one line on stderr and
exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from model import evaluate as model_evaluate
from model.annotations import DataError
from pipeline.inference import contract as model_contract
from pipeline.runtime import flag_types
from pipeline.runtime import usage


BATCH_SIZE = flag_types.in_range('batch_size', int, 1, 4096)


def build_arg_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan evaluate',
      description='Evaluate a model on labelled footage through the scan\'s '
      'own loading, decoding and clip assembly; choose its threshold for a '
      'target precision and record it with the metrics in '
      'rescan_model.json.')
  parser.add_argument('--model', required=True, metavar='MODEL_DIR')
  parser.add_argument('--data', required=True, metavar='DIR',
                      help='folder of held-out videos')
  parser.add_argument('--annotations', metavar='CSV',
                      help='annotations (default DIR/annotations.csv)')
  parser.add_argument('--target-precision',
                      type=flag_types.positive_fraction, default=0.9,
                      help='precision the threshold must reach for every '
                      'label (default %(default)s)')
  parser.add_argument('--out-dir', metavar='DIR', default=None,
                      help='where evaluation.json and pr_curve.png go '
                      '(default MODEL_DIR/evaluation)')
  parser.add_argument('--no-write-threshold', dest='write_threshold',
                      action='store_false',
                      help='leave rescan_model.json untouched (report only)')
  parser.add_argument('--batch-size', type=BATCH_SIZE, default=64)
  return parser


def parse_args(argv: Sequence[str]) -> model_evaluate.EvaluateConfig:
  args = build_arg_parser().parse_args(list(argv))
  return model_evaluate.EvaluateConfig(**vars(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
  config = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    model_evaluate.evaluate(config, log=lambda line: print(line, flush=True))
  except (DataError, model_contract.ContractError) as exc:
    print(f'rescan evaluate: error: {exc}', file=sys.stderr)
    return 2
  return 0
