"""One scan as a job: ``build_pipeline`` and ``run``.

``build_pipeline`` builds the graph on any pipeline (tests pass a
``TestPipeline``); ``run`` parses flags, checks the model and inputs before
any work starts, runs, and prints a summary.  The commands ``rescan scan``
and ``python -m pipeline.run`` call ``run`` (``pipeline.cli.scan``).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Dict, Iterator, Optional, Sequence

import apache_beam as beam

from pipeline.scan import inputs
from pipeline.inference import contract as model_contract
from pipeline.scan import progress
from pipeline.runtime import runners
from pipeline.scan import summary
from pipeline.scan.options import ScanConfig
from pipeline.scan.options import parse_scan_args
from pipeline.storage.parquet import WriteDataset
from pipeline.scan.transforms import ScanVideos
from pipeline.scan.transforms import settings_from


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
