"""Choosing the Beam runner explicitly.

Beam 2.77's ``DirectRunner`` first tries the Prism runner, which downloads a
binary from the internet; with no network that attempt fails and it falls
back.  A scan asking for the DirectRunner (our local default) therefore runs
on the engine the DirectRunner falls back to, the in-process portable
``FnApiRunner``, chosen directly.  It honours ``--direct_running_mode`` and
``--direct_num_workers``.  Every other runner name is passed to Beam as is.
"""
from __future__ import annotations

from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

LOCAL_RUNNER_NAMES = ('DirectRunner', 'SwitchingDirectRunner', 'FnApiRunner')


def local_runner() -> FnApiRunner:
  """The deterministic, offline local runner."""
  return FnApiRunner()


def create_pipeline(beam_args: Sequence[str]) -> beam.Pipeline:
  options = PipelineOptions(list(beam_args))
  name = options.view_as(StandardOptions).runner or 'DirectRunner'
  if name in LOCAL_RUNNER_NAMES:
    return beam.Pipeline(runner=local_runner(), options=options)
  return beam.Pipeline(options=options)
