"""The scan's entry point: ``rescan scan ...`` or ``python -m pipeline.run``.

``build_pipeline`` builds the graph on any pipeline (tests pass a
``TestPipeline``); ``run`` parses flags, checks the model and inputs before
any work starts, runs, and prints a summary.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Dict, Iterator, Optional, Sequence

import apache_beam as beam

from pipeline import inputs
from pipeline import model_contract
from pipeline import process_exit
from pipeline import progress
from pipeline import runners
from pipeline import summary
from pipeline.options import ScanConfig
from pipeline.options import parse_scan_args
from pipeline.parquet_output import WriteDataset
from pipeline.transforms import ScanVideos
from pipeline.transforms import settings_from


def build_pipeline(p: beam.Pipeline, config: ScanConfig,
                   spec: Optional[model_contract.ModelSpec] = None
                   ) -> Dict[str, beam.PCollection]:
  """Adds the scan to ``p``; returns the clip and ledger collections."""
  spec = spec or model_contract.resolve_model(config.model)
  for spec_input in config.inputs:
    inputs.check_input(spec_input)
  settings = settings_from(config, spec)
  outputs = (p
             | 'ListInputs' >> beam.Create(list(config.inputs))
             | 'ScanVideos' >> ScanVideos(settings))
  if not config.hashes:
    outputs.pop('frame_hashes')
  for dataset, records in outputs.items():
    _ = records | WRITE_LABELS[dataset] >> WriteDataset(
        config.output, dataset, config.scan_id)
  return outputs


WRITE_LABELS = {
    'flagged_clips': 'WriteFlaggedClips',
    'videos': 'WriteLedger',
    'frame_hashes': 'WriteFrameHashes',
    'hash_matches': 'WriteHashMatches',
}


def run(argv: Optional[Sequence[str]] = None,
        test_pipeline: Optional[beam.Pipeline] = None) -> ScanConfig:
  """Runs one scan to completion and prints its summary."""
  config = parse_scan_args(sys.argv[1:] if argv is None else argv)
  spec = model_contract.resolve_model(config.model)
  p = test_pipeline or runners.create_pipeline(config.beam_args)
  build_pipeline(p, config, spec)
  with private_files(), progress.scan_progress(config.beam_args,
                              fps=config.fps or spec.fps) as reporter:
    result = p.run()
    reporter.follow(result, config.beam_args)
    result.wait_until_finish()
  print(summary.format_summary(config.output, config.scan_id))
  return config


@contextlib.contextmanager
def private_files() -> Iterator[None]:
  """Local outputs point at the most sensitive content a platform holds:
  files this process (and the workers it starts) creates are readable by
  their owner only."""
  previous = os.umask(0o077)
  try:
    yield
  finally:
    os.umask(previous)


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.getLogger().setLevel(os.environ.get('RESCAN_LOG_LEVEL', 'ERROR'))
  try:
    run(argv)
  except (model_contract.ContractError, inputs.InputError) as exc:
    print(f'rescan: error: {exc}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  process_exit.exit_now(main())
