"""Flags resolved once against the model: what the workers get, and the
inference handler built from it."""
from __future__ import annotations

import os

import pytest

from pipeline.inference.contract import ModelSpec
from pipeline.inference.handler import SavedModelHandler
from pipeline.scan import transforms
from pipeline.scan.options import parse_scan_args
from pipeline.scan.settings import resolve_settings

SPEC = ModelSpec(path='unused', name='marker', version='1', labels=('x',),
                 input_height=32, input_width=32, fps=2.0, threshold=0.6)
REQUIRED = ['--input', 'in/*.mp4', '--output', 'out', '--model', 'm']


def _settings(*flags):
  return resolve_settings(parse_scan_args(REQUIRED + list(flags)), SPEC)


def test_the_model_fills_in_what_the_flags_leave_unset():
  settings = _settings()
  assert (settings.fps, settings.threshold) == (2.0, 0.6)
  assert settings.clip_rules.sample_interval_ms == 500.0
  assert settings.clip_rules.merge_gap_ms == 1000.0
  assert settings.skip_scanned_root is None


def test_flags_win_over_the_model_even_when_zero():
  settings = _settings('--fps', '4', '--threshold', '0')
  assert (settings.fps, settings.threshold) == (4.0, 0.0)
  assert settings.clip_rules.threshold == 0.0
  assert settings.clip_rules.sample_interval_ms == 250.0


def test_seconds_become_milliseconds_and_prefixes_absolute_paths():
  settings = _settings('--segment-seconds', '2.5', '--merge-gap-seconds',
                       '0.25', '--min-clip-seconds', '3',
                       '--allowed-prefix', 'in', '--skip-scanned')
  assert settings.segment_ms == 2500
  assert (settings.clip_rules.merge_gap_ms,
          settings.clip_rules.min_clip_ms) == (250.0, 3000.0)
  assert settings.allowed_prefixes == (os.path.abspath('in'),)
  assert settings.skip_scanned_root == 'out'


def test_the_flags_reach_the_workers_as_parsed():
  config = parse_scan_args(REQUIRED + ['--decode-threads', '3'])
  settings = resolve_settings(config, SPEC)
  assert settings.config is config and settings.spec is SPEC


def test_model_copies_share_the_model_across_processes():
  handler = transforms.inference_handler(_settings('--model-copies', '2'))
  assert handler.share_model_across_processes()
  assert handler.model_copies() == 2


def test_by_default_each_process_loads_its_own_model():
  handler = transforms.inference_handler(_settings())
  assert not handler.share_model_across_processes()
  assert handler.model_copies() == 1


@pytest.mark.parametrize('value', ['0', '-1', '1.5'])
def test_model_copies_must_be_a_positive_integer(value, capsys):
  with pytest.raises(SystemExit):
    parse_scan_args(REQUIRED + ['--model-copies', value])
  assert 'argument --model-copies' in capsys.readouterr().err


def test_batches_are_of_the_batch_size_from_the_start():
  handler = transforms.inference_handler(_settings('--batch-size', '16'))
  assert handler.batch_elements_kwargs() == {'min_batch_size': 16,
                                             'max_batch_size': 16}
  assert SavedModelHandler(SPEC).batch_elements_kwargs() == {
      'min_batch_size': 64, 'max_batch_size': 64}
