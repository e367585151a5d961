"""One scan as a job: ``build_pipeline`` and ``run``.

``build_pipeline`` builds the graph on any pipeline (tests pass a
``TestPipeline``); ``run`` parses flags, checks the model and inputs before
any work starts, runs, and prints a summary.

With ``--waves K`` a scan is K successive Beam jobs, one per wave
(``identities.wave_of`` splits the inputs by the hash of their file URI);
each wave writes its own files into the scan's partitions and is recorded
as committed in the scan's state when its job finishes
(``pipeline.storage.scan_state``), so a killed or failed scan keeps its
committed waves and loses at most the wave in flight.  ``run`` with a
``test_pipeline`` runs one pipeline only: it refuses ``--waves`` above 1
(a caller that wants waves builds one pipeline per wave with
``build_pipeline(p, config, wave=i)`` and commits them itself).  Both resolve the flags against
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
from pipeline.storage import scan_state
from pipeline.storage import writable
from pipeline.storage.parquet import WriteDataset

WRITE_LABELS = {
    'flagged_clips': 'WriteFlaggedClips',
    'videos': 'WriteLedger',
    'frame_scores': 'WriteFrameScores',
    'frame_hashes': 'WriteFrameHashes',
    'hash_matches': 'WriteHashMatches',
}


def build_pipeline(p: beam.Pipeline, config: ScanConfig,
                   spec: Optional[model_contract.ModelSpec] = None,
                   wave: int = 0,
                   audio_spec: Optional[model_contract.AudioModelSpec] = None
                   ) -> Dict[str, beam.PCollection]:
  """Adds the scan (wave ``wave`` of ``config.waves``) to ``p``; returns
  the collections it writes, by dataset.  ``spec`` and ``audio_spec``
  default to the models', read from ``config.model`` and
  ``config.audio_model``."""
  spec = spec or _model(config.model, model_contract.resolve_model)
  audio_spec = audio_spec or _model(config.audio_model,
                                    model_contract.resolve_audio_model)
  return add_scan(p, resolve_settings(config, spec, audio_spec), wave)


def add_scan(p: beam.Pipeline, settings: ScanSettings, wave: int = 0,
             earlier_ledgers: Optional[Sequence[str]] = None
             ) -> Dict[str, beam.PCollection]:
  """Checks the budget and the inputs, then adds the scan (wave ``wave``)
  and its writes to ``p``."""
  check_budget(settings)
  for spec_input in settings.config.inputs:
    inputs.check_input(spec_input)
  return add_wave(p, settings, wave, earlier_ledgers)


def add_wave(p: beam.Pipeline, settings: ScanSettings, wave: int,
             earlier_ledgers: Optional[Sequence[str]] = None
             ) -> Dict[str, beam.PCollection]:
  """Adds wave ``wave`` of the scan and its writes to ``p``, unchecked:
  ``run`` checks once (``add_scan``, on the first wave's pipeline), not
  once per wave (a manifest is streamed whole to check it), and lists the
  earlier ledgers once (``earlier_ledgers``, for --skip-scanned)."""
  config = settings.config
  outputs = (p
             | 'ListInputs' >> beam.Create(list(config.inputs))
             | 'ScanVideos' >> ScanVideos(settings, wave, earlier_ledgers))
  for dataset, records in outputs.items():
    _ = records | WRITE_LABELS[dataset] >> WriteDataset(
        config.output, dataset, config.scan_id, wave, config.waves)
  # The summary is a small aggregate made by the job, so that the launcher
  # never reads the outputs (the scan's size does not reach it).
  _ = ((outputs['videos'], outputs['flagged_clips'])
       | 'FlattenForSummary' >> beam.Flatten()
       | 'SummarizeScan' >> beam.CombineGlobally(
           transforms.SummarizeScanFn())
       | 'WriteSummary' >> beam.Map(summary.write_summary, config.output,
                                    config.scan_id, wave, config.waves))
  return outputs


def run(argv: Optional[Sequence[str]] = None,
        test_pipeline: Optional[beam.Pipeline] = None) -> ScanConfig:
  """Runs one scan to completion, wave by wave, and prints its summary.
  The scan's state is ``running`` from its claim on, each wave is
  committed when its job finishes, and the state ends ``complete``, or
  ``failed`` when anything raises (a killed launcher leaves ``running``)."""
  config = parse_scan_args(sys.argv[1:] if argv is None else argv)
  if test_pipeline is not None and config.waves > 1:
    raise ValueError('a test pipeline runs one wave; build one pipeline '
                     'per wave with build_pipeline(..., wave=i)')
  # The metadata's bounds and the memory budget are checked before the
  # models are loaded (a 20000x20000 probe call would be work).
  check_budget(resolve_settings(
      config, _model(config.model, model_contract.load_model_spec),
      _model(config.audio_model, model_contract.load_audio_model_spec)))
  settings = resolve_settings(
      config, _model(config.model, model_contract.resolve_model),
      _model(config.audio_model, model_contract.resolve_audio_model))
  first = test_pipeline or runners.create_pipeline(config.beam_args)
  # Listed once for all waves, before this scan commits any of its own.
  earlier = transforms.earlier_ledgers(settings)
  add_scan(first, settings, earlier_ledgers=earlier)
  writable.check_datasets_writable(config.output, WRITE_LABELS)
  claims.claim_scan(config.output, config.scan_id, tool='scan',
                    beam_args=config.beam_args)
  state = scan_state.begin(config.output, config.scan_id, config.waves)
  cleaned = scan_state.clean_orphans(config.output)
  if cleaned:
    print(f'rescan: removed {len(cleaned)} temporary or uncommitted files '
          f'and folders that killed or failed scans left under '
          f'{config.output}', file=sys.stderr)
  try:
    with private_files(), progress.scan_progress(
        config.beam_args, fps=settings.fps) as reporter:
      for wave in range(config.waves):
        p = first
        if wave:
          p = runners.create_pipeline(config.beam_args)
          add_wave(p, settings, wave, earlier)
        result = p.run()
        reporter.follow(result, config.beam_args)
        scan_state.check_finished(result.wait_until_finish(),
                                  f'wave {wave} of scan {config.scan_id}')
        state = scan_state.commit_wave(config.output, state, wave)
  except BaseException:
    scan_state.finish(config.output, state, scan_state.FAILED)
    raise
  state = scan_state.finish(config.output, state, scan_state.COMPLETE)
  print(summary.format_summary(
      summary.read_summary(config.output, config.scan_id, config.waves),
      config.output, config.scan_id))
  if config.waves > 1:
    print(f'  {"state":<14} {state.describe()}, {config.waves} waves '
          f'({scan_state.state_path(config.output, config.scan_id)})')
  return config


def _model(path: Optional[str], load):
  """``load(path)``, or ``None`` when that model was not given."""
  return load(path) if path else None


def check_budget(settings: ScanSettings) -> None:
  """Refuses (``ContractError``) flags that, with the models, would hold
  more than the memory budget per segment or per batch."""
  config = settings.config
  if settings.spec is not None:
    model_contract.check_scan_budget(settings.spec, settings.fps,
                                     config.segment_seconds,
                                     config.batch_size)
  if settings.audio_spec is not None:
    model_contract.check_audio_scan_budget(
        settings.audio_spec, config.segment_seconds,
        config.audio_batch_size, '--audio-batch-size')
