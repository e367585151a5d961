"""One scan as a job: ``build_pipeline`` and ``run``.

``build_pipeline`` builds the graph on any pipeline (tests pass a
``TestPipeline``); ``run`` parses flags, checks the model and inputs before
any work starts, runs, and prints a summary.  Both resolve the flags against
the model once (``pipeline.scan.settings``); the progress line uses the same
settings as the workers.  The commands ``rescan scan`` and ``python -m
pipeline.run`` call ``run`` (``pipeline.cli.scan``).
"""
from __future__ import annotations

import sys
from typing import Dict, Optional, Sequence

import apache_beam as beam

from pipeline.inference import contract as model_contract
from pipeline.runtime import runners
from pipeline.runtime.private import private_files
from pipeline.scan import inputs
from pipeline.scan import progress
from pipeline.scan import summary
from pipeline.scan import transforms
from pipeline.scan.graph import ScanVideos
from pipeline.scan.options import ScanConfig
from pipeline.scan.options import parse_scan_args
from pipeline.scan.settings import ScanSettings
from pipeline.scan.settings import resolve_settings
from pipeline.storage import claims
from pipeline.storage import writable
from pipeline.storage.parquet import WriteDataset

WRITE_LABELS = {
    'flagged_clips': 'WriteFlaggedClips',
    'videos': 'WriteLedger',
    'frame_hashes': 'WriteFrameHashes',
    'hash_matches': 'WriteHashMatches',
}


def build_pipeline(p: beam.Pipeline, config: ScanConfig,
                   spec: Optional[model_contract.ModelSpec] = None
                   ) -> Dict[str, beam.PCollection]:
  """Adds the scan to ``p``; returns the collections it writes, by
  dataset.  ``spec`` defaults to the model's, read from ``config.model``."""
  spec = spec or model_contract.resolve_model(config.model)
  return add_scan(p, resolve_settings(config, spec))


def add_scan(p: beam.Pipeline, settings: ScanSettings
             ) -> Dict[str, beam.PCollection]:
  """Checks the inputs, then adds the scan and its writes to ``p``."""
  config = settings.config
  check_budget(settings)
  for spec_input in config.inputs:
    inputs.check_input(spec_input)
  outputs = (p
             | 'ListInputs' >> beam.Create(list(config.inputs))
             | 'ScanVideos' >> ScanVideos(settings))
  for dataset, records in outputs.items():
    _ = records | WRITE_LABELS[dataset] >> WriteDataset(
        config.output, dataset, config.scan_id)
  # The summary is a small aggregate made by the job, so that the launcher
  # never reads the outputs (the scan's size does not reach it).
  _ = ((outputs['videos'], outputs['flagged_clips'])
       | 'FlattenForSummary' >> beam.Flatten()
       | 'SummarizeScan' >> beam.CombineGlobally(
           transforms.SummarizeScanFn())
       | 'WriteSummary' >> beam.Map(summary.write_summary, config.output,
                                    config.scan_id))
  return outputs


def run(argv: Optional[Sequence[str]] = None,
        test_pipeline: Optional[beam.Pipeline] = None) -> ScanConfig:
  """Runs one scan to completion and prints its summary."""
  config = parse_scan_args(sys.argv[1:] if argv is None else argv)
  # The metadata's bounds and the memory budget are checked before the
  # model is loaded (a 20000x20000 probe call would be work).
  check_budget(resolve_settings(config, model_contract.load_model_spec(
      config.model)))
  settings = resolve_settings(config, model_contract.resolve_model(
      config.model))
  p = test_pipeline or runners.create_pipeline(config.beam_args)
  add_scan(p, settings)
  writable.check_datasets_writable(config.output, WRITE_LABELS)
  claims.claim_scan(config.output, config.scan_id, tool='scan',
                    beam_args=config.beam_args)
  with private_files(), progress.scan_progress(
      config.beam_args, fps=settings.fps) as reporter:
    result = p.run()
    reporter.follow(result, config.beam_args)
    result.wait_until_finish()
  print(summary.format_summary(
      summary.read_summary(config.output, config.scan_id), config.output,
      config.scan_id))
  return config


def check_budget(settings: ScanSettings) -> None:
  """Refuses (``ContractError``) flags that, with the model, would hold
  more than the memory budget per segment or per batch."""
  model_contract.check_scan_budget(settings.spec, settings.fps,
                                   settings.config.segment_seconds,
                                   settings.config.batch_size)
