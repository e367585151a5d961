"""Clip assembly as a pure function."""
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pipeline.scan.clips import ClipRules
from pipeline.scan.clips import assemble_clips
from pipeline.scan.clips import clip_id
from pipeline.records import FrameScore

RULES = ClipRules(threshold=0.5, sample_interval_ms=500, merge_gap_ms=0)


def _samples(values, interval=500):
  return [FrameScore(i * interval, (v,)) for i, v in enumerate(values)]


def test_a_run_of_positive_samples_is_one_clip_ending_one_interval_later():
  clips = assemble_clips(_samples([0, 0, .6, .9, .7, 0, 0]), ['x'], RULES,
                         duration_ms=10_000)
  assert len(clips) == 1
  clip = clips[0]
  assert (clip.start_ms, clip.end_ms, clip.peak_ms) == (1000, 2500, 1500)
  assert clip.frames == 3
  assert abs(clip.peak_score - .9) < 1e-9
  assert abs(clip.mean_score - (.6 + .9 + .7) / 3) < 1e-9


def test_end_is_clamped_to_the_duration():
  clips = assemble_clips(_samples([0, 1, 1]), ['x'], RULES, duration_ms=1200)
  assert clips[0].end_ms == 1200


def test_threshold_is_inclusive_and_labels_are_separate():
  samples = [FrameScore(0, (0.5, 0.0)), FrameScore(500, (0.0, 0.8))]
  clips = assemble_clips(samples, ['a', 'b'], RULES, 5000)
  assert [(c.label, c.start_ms) for c in clips] == [('a', 0), ('b', 500)]


def test_merge_gap_joins_runs_and_min_length_drops_short_clips():
  values = [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
  merged = assemble_clips(_samples(values), ['x'],
                          ClipRules(0.5, 500, merge_gap_ms=1000), 10_000)
  assert [(c.start_ms, c.end_ms) for c in merged] == [(0, 2000), (4500, 5000)]
  assert merged[0].frames == 4
  long_only = assemble_clips(_samples(values), ['x'],
                             ClipRules(0.5, 500, merge_gap_ms=1000,
                                       min_clip_ms=1000), 10_000)
  assert [(c.start_ms, c.end_ms) for c in long_only] == [(0, 2000)]


def test_order_of_samples_does_not_matter():
  samples = _samples([0, 1, 1, 0, 1])
  assert assemble_clips(samples[::-1], ['x'], RULES, 5000) == assemble_clips(
      samples, ['x'], RULES, 5000)


def test_clip_id_is_deterministic_and_depends_on_model_version():
  assert clip_id('v', 'x', 100, '1') == clip_id('v', 'x', 100, '1')
  assert clip_id('v', 'x', 100, '1') != clip_id('v', 'x', 100, '2')


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=1, max_size=80),
       threshold=st.floats(0.05, 0.95),
       gap=st.sampled_from([0, 500, 1500]))
def test_clips_cover_every_positive_sample_and_never_overlap(values, threshold,
                                                             gap):
  rules = ClipRules(threshold, 500, merge_gap_ms=gap)
  samples = _samples(values)
  duration = len(values) * 500
  clips = assemble_clips(samples, ['x'], rules, duration)
  for sample in samples:
    inside = [c for c in clips if c.start_ms <= sample.ts_ms < c.end_ms]
    assert len(inside) <= 1
    if sample.scores[0] >= threshold:
      assert len(inside) == 1
  for a, b in zip(clips, clips[1:]):
    assert a.end_ms <= b.start_ms
  for clip in clips:
    assert clip.peak_score >= threshold
    assert 0 <= clip.start_ms < clip.end_ms <= duration
