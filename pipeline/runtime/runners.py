"""Choosing the Beam runner explicitly.

Beam 2.77's ``DirectRunner`` first tries the Prism runner, which downloads a
binary from the internet; with no network that attempt fails and it falls
back.  A scan asking for the DirectRunner (our local default) therefore runs
on the engine the DirectRunner falls back to, the in-process portable
``FnApiRunner``, chosen directly.  It honours ``--direct_running_mode`` and
``--direct_num_workers``.  Every other runner name is passed to Beam as is.
"""
from __future__ import annotations

import os
from typing import List, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import SetupOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.options.pipeline_options import WorkerOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

DEFAULT_RUNNER = 'DirectRunner'
LOCAL_RUNNER_NAMES = (DEFAULT_RUNNER, 'SwitchingDirectRunner', 'FnApiRunner')
DATAFLOW_RUNNER_NAMES = ('DataflowRunner', 'TestDataflowRunner')


def local_runner() -> FnApiRunner:
  """The deterministic, offline local runner."""
  return FnApiRunner()


# The repository's setup.py: pipeline/runtime/runners.py -> three levels up.
SETUP_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), 'setup.py')


def with_staging(beam_args: Sequence[str]) -> List[str]:
  """Dataflow workers need our code: stage ``setup.py`` unless the job
  brings its own (``--setup_file``) or runs a custom container image that
  has it installed (``--sdk_container_image``)."""
  args = list(beam_args)
  options = PipelineOptions(args).view_as(SetupOptions)
  worker = PipelineOptions(args).view_as(WorkerOptions)
  if options.setup_file or worker.sdk_container_image:
    return args
  if not os.path.exists(SETUP_FILE):
    raise ValueError('DataflowRunner needs --setup_file=PATH/setup.py or '
                     '--sdk_container_image=IMAGE with archive-rescan '
                     'installed')
  return args + [f'--setup_file={SETUP_FILE}']


def with_default_runner(beam_args: Sequence[str]) -> List[str]:
  """Beam's flags, on the local runner unless they name a runner."""
  args = list(beam_args)
  if any(a == '--runner' or a.startswith('--runner=') for a in args):
    return args
  return ['--runner', DEFAULT_RUNNER] + args


def runner_name(beam_args: Sequence[str]) -> str:
  return PipelineOptions(list(beam_args)).view_as(
      StandardOptions).runner or DEFAULT_RUNNER


def create_pipeline(beam_args: Sequence[str]) -> beam.Pipeline:
  options = PipelineOptions(list(beam_args))
  name = runner_name(beam_args)
  if name in LOCAL_RUNNER_NAMES:
    return beam.Pipeline(runner=local_runner(), options=options)
  if name in DATAFLOW_RUNNER_NAMES:
    options = PipelineOptions(with_staging(beam_args))
  return beam.Pipeline(options=options)
