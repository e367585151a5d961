"""The sample grid and the frame-on-screen rule, without decoding."""
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pipeline.media import sampling


def test_grid_is_global_and_segments_partition_it():
  whole = list(sampling.sample_index_range(0, 60_000, 3.0))
  parts = []
  for start in range(0, 60_000, 7_000):
    parts += list(sampling.sample_index_range(start, min(start + 7_000, 60_000),
                                              3.0))
  assert parts == whole
  assert [sampling.sample_time_ms(k, 3.0) for k in whole[:4]] == [0, 333, 666,
                                                                  1000]


@settings(max_examples=200, deadline=None)
@given(fps=st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.5, 29.97]),
       cuts=st.lists(st.integers(1, 99_999), max_size=8))
def test_any_segmentation_yields_each_sample_exactly_once(fps, cuts):
  bounds = [0] + sorted(set(cuts)) + [100_000]
  indices = []
  for start, end in zip(bounds, bounds[1:]):
    indices += list(sampling.sample_index_range(start, end, fps))
  assert indices == list(sampling.sample_index_range(0, 100_000, fps))


def test_pick_takes_the_frame_on_screen_at_each_sample_time():
  frames = [(0.0, 'a'), (400.0, 'b'), (1100.0, 'c'), (1300.0, 'd')]
  picked = list(sampling.pick_frames(frames, [0, 500, 1000, 1400, 1500],
                                     max_lead_ms=500))
  # The last frame is held for the last gap (200 ms): 1500 is past it.
  assert picked == [(0, 'a'), (500, 'b'), (1000, 'b'), (1400, 'd')]


def test_nearest_pick_takes_the_closest_frame_either_side():
  frames = [(0.0, 'a'), (400.0, 'b'), (1100.0, 'c'), (1300.0, 'd')]
  picked = list(sampling.pick_frames(frames, [0, 150, 250, 1000, 1200, 1400],
                                     max_lead_ms=500, nearest=True))
  # 250 is nearer 400 than 0; 1200 is a tie between 1100 and 1300: earlier.
  assert picked == [(0, 'a'), (150, 'a'), (250, 'b'), (1000, 'c'),
                    (1200, 'c'), (1400, 'd')]


def test_auto_sampling_decodes_keyframes_when_samples_span_a_gop():
  assert sampling.resolve_sampling('auto', 0.5, 2000) == sampling.KEYFRAMES
  assert sampling.resolve_sampling('auto', 1.0, 2000) == sampling.FAST
  assert sampling.resolve_sampling('auto', 1.0, None) == sampling.FAST
  assert sampling.resolve_sampling('exact', 0.1, 2000) == sampling.EXACT
  assert sampling.resolve_sampling('keyframes', 30, 2000) == sampling.KEYFRAMES
  with pytest.raises(ValueError):
    sampling.resolve_sampling('fastest', 1.0, 2000)


def test_pick_uses_first_frame_for_an_early_sample_within_the_lead():
  frames = [(33.0, 'a'), (66.0, 'b')]
  assert list(sampling.pick_frames(frames, [0], max_lead_ms=100)) == [(0, 'a')]
  assert list(sampling.pick_frames([(900.0, 'a'), (950.0, 'b')], [0],
                                   max_lead_ms=100)) == []


def test_pick_stops_reading_once_every_sample_is_placed():
  consumed = []

  def frames():
    for i in range(1000):
      consumed.append(i)
      yield float(i * 100), i

  assert [p for _, p in sampling.pick_frames(frames(), [0, 250],
                                             max_lead_ms=100)] == [0, 2]
  assert len(consumed) <= 5


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(1, 400), min_size=1, max_size=60),
       fps=st.sampled_from([1.0, 2.0, 5.0]))
def test_variable_frame_rate_picks_latest_frame_not_after_sample(gaps, fps):
  times, t = [], 0
  for gap in gaps:
    times.append(float(t))
    t += gap
  samples = [sampling.sample_time_ms(k, fps)
             for k in sampling.sample_index_range(0, int(times[-1]), fps)]
  for sample_ms, frame_ms in sampling.pick_frames(
      ((ft, ft) for ft in times), samples, max_lead_ms=0):
    later = [ft for ft in times if ft <= sample_ms]
    assert frame_ms == max(later)
