"""Decoding a segment for the scan, without Beam: model inputs and windows,
frame hashes, and the outcome of a segment that decoded or died."""
from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import numpy as np

from model.synthetic_video import write_video
from pipeline.hashes.pdq import FrameHash
from pipeline.inference.contract import ModelSpec
from pipeline.media import errors as media_errors
from pipeline.media.decode import Sample
from pipeline.records import SampleKey
from pipeline.records import Segment
from pipeline.records import SegmentOutcome
from pipeline.scan import decoding
from pipeline.scan.options import parse_scan_args
from pipeline.scan.settings import resolve_settings


def _sample(index, context=False):
  return Sample(index, index * 500, np.full((2, 2, 3), index, np.uint8),
                context=context)


def _spec(window=1):
  return ModelSpec(path='unused', name='m', version='1', labels=('x',),
                   input_height=24, input_width=32, fps=2.0, threshold=0.5,
                   window=window)


def test_context_samples_only_fill_the_first_window():
  samples = [_sample(3, True), _sample(4, True), _sample(5), _sample(6)]
  inputs = list(decoding.model_inputs(samples, 3))
  assert [s.index for s, _ in inputs] == [5, 6]
  assert [list(frames[:, 0, 0, 0]) for _, frames in inputs] == [[3, 4, 5],
                                                                [4, 5, 6]]


def test_a_single_frame_model_takes_the_image():
  samples = [_sample(0), _sample(1)]
  inputs = list(decoding.model_inputs(samples, 1))
  assert all(frames is sample.image for sample, frames in inputs)


def test_a_segment_yields_samples_then_hashes_then_its_outcome(tmp_path):
  path = write_video(str(tmp_path / 'a.mp4'), 4.0, 'h264')
  config = parse_scan_args(['--input', path, '--output', str(tmp_path),
                            '--model', 'unused', '--scan-id', 's1'])
  settings = resolve_settings(config, _spec())
  records = list(decoding.decode_segment(
      Segment('a', path, 1, 2000, 4000, 4000), settings))
  kinds = [type(r).__name__ for r in records]
  assert kinds == ['tuple'] * 4 + ['FrameHash'] * 2 + ['SegmentOutcome']
  assert [key for key, _ in records[:4]] == [
      SampleKey('a', t) for t in (2000, 2500, 3000, 3500)]
  assert records[0][1].shape == (24, 32, 3)
  hashes = [r for r in records if isinstance(r, FrameHash)]
  assert [(h.ts_ms, h.scan_id) for h in hashes] == [(2000, 's1'),
                                                    (3000, 's1')]
  outcome = records[-1]
  assert (outcome.video_id, outcome.index, outcome.frames_sampled,
          outcome.error_kind) == ('a', 1, 4, None)
  assert outcome.bytes_read > 0
  no_hashes = resolve_settings(parse_scan_args(
      ['--input', path, '--output', str(tmp_path), '--model', 'unused',
       '--no-hashes']), _spec())
  assert not any(isinstance(r, FrameHash) for r in decoding.decode_segment(
      Segment('a', path, 1, 2000, 4000, 4000), no_hashes))


def test_a_missing_file_is_an_outcome_not_an_exception(tmp_path):
  config = parse_scan_args(['--input', 'x', '--output', str(tmp_path),
                            '--model', 'unused'])
  records = list(decoding.decode_segment(
      Segment('g', str(tmp_path / 'gone.mp4'), 0, 0, 1000, 1000),
      resolve_settings(config, _spec())))
  assert len(records) == 1 and isinstance(records[0], SegmentOutcome)
  assert records[0].error_kind == media_errors.NOT_FOUND


def test_a_dead_segment_is_named_by_how_it_died():
  segment = Segment('v', '/a/v.mp4', 2, 10_000, 15_000, 60_000)
  hung = decoding.dead_segment_outcome(segment, TimeoutError, None)
  died = decoding.dead_segment_outcome(segment, BrokenProcessPool, None)
  bug = decoding.dead_segment_outcome(segment, ZeroDivisionError,
                                      ZeroDivisionError('division by zero'))
  assert (hung.error_kind, died.error_kind, bug.error_kind) == (
      media_errors.TIMEOUT, media_errors.CRASH, media_errors.INTERNAL_ERROR)
  assert hung.error_message == ('segment 2 [10000, 15000) ms: decoding the '
                                'segment exceeded its time limit')
  assert bug.error_message.startswith(
      'segment 2 [10000, 15000) ms: ZeroDivisionError: ')
  assert (hung.video_id, hung.index, hung.frames_sampled) == ('v', 2, 0)
