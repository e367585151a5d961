"""The benchmark harness's own parts (not the benchmarks: those are run by
``python -m benchmarks.run``, never as tests)."""
import subprocess
import sys

import pytest

from benchmarks import balance
from benchmarks import corpus
from benchmarks import generated_sections
from benchmarks.measure import Spread
from benchmarks.measure import ratio
from benchmarks.measure import run_child
from benchmarks.run import ffmpeg_sampling_command
from benchmarks.run import summary_table
from model.synthetic_video import write_video
from pipeline.media import decode
from pipeline.media import probe

# A child whose own child holds 300 MB for a moment, then both exit.
_GRANDCHILD_ALLOCATES = '''
import subprocess, sys
subprocess.run([sys.executable, '-c',
                'import time; b = bytearray(300 * 2**20); '
                'b[::4096] = b"x" * len(b[::4096]); time.sleep(1.0)'],
               check=True)
'''


def test_ratio_of_spreads_pairs_worst_and_best():
  fast = Spread.of([2.0, 1.0, 4.0])
  slow = Spread.of([10.0, 8.0, 12.0])
  assert fast == Spread(1.0, 2.0, 4.0)
  assert ratio(slow, fast) == Spread(8.0 / 4.0, 10.0 / 2.0, 12.0 / 1.0)


def test_child_measurement_counts_the_whole_process_tree():
  run = run_child([sys.executable, '-c', _GRANDCHILD_ALLOCATES])
  assert run.peak_memory_bytes >= 300 * 2**20
  # The child alone held none of it.
  assert 0 < run.peak_root_memory_bytes < 100 * 2**20
  assert run.wall_s >= 1.0
  assert run.cpu_s > 0
  with pytest.raises(RuntimeError, match='exited 3'):
    run_child([sys.executable, '-c', 'import sys; sys.exit(3)'])


def test_ffmpeg_anchor_samples_like_the_scan(tmp_path):
  path = write_video(str(tmp_path / 'a.mp4'), 6.0, 'h264', fps=10.0)
  exact = ffmpeg_sampling_command(path, 2.0, (96, 96))
  assert 'fps=2.0,scale=96:96:flags=bilinear,format=rgb24' in exact
  assert '-skip_frame' not in exact
  keyframes = ffmpeg_sampling_command(path, 0.5, (96, 96), 'nokey')
  assert keyframes[keyframes.index('-skip_frame') + 1] == 'nokey'
  assert keyframes.index('-skip_frame') < keyframes.index('-i')
  # The command is one ffmpeg can run, where the CLI is installed.
  if subprocess.run(['which', 'ffmpeg'], capture_output=True).returncode == 0:
    run_child(exact)
    run_child(keyframes)


def test_repeated_video_is_the_copies_end_to_end(tmp_path):
  source = write_video(str(tmp_path / 'one.mp4'), 4.0, 'h264', fps=10.0,
                       gop_seconds=1.0)
  repeated = corpus.write_repeated(source, str(tmp_path / 'three.mp4'), 3)
  info = probe.probe_video(repeated)
  assert abs(info.duration_ms - 12_000) <= 200
  samples = decode.sample_frames(repeated, 1.0, (32, 24), sampling_mode='exact')
  assert [s.ts_ms for s in samples] == [i * 1000 for i in range(12)]
  once = decode.sample_frames(source, 1.0, (32, 24), sampling_mode='exact')
  for copy in range(3):
    for a, b in zip(once, samples[copy * 4:(copy + 1) * 4]):
      assert (a.image == b.image).all()


def test_generated_sections_keep_the_rest_of_the_file(tmp_path):
  doc = tmp_path / 'README.md'
  doc.write_text('intro\n<!-- a -->\nold\n<!-- b -->\nrest\n',
                 encoding='utf-8')
  generated_sections.rewrite_file(doc, 'new\n', '<!-- a -->', '<!-- b -->')
  assert doc.read_text(encoding='utf-8') == (
      'intro\n<!-- a -->\nnew\n<!-- b -->\nrest\n')


def test_summary_table_marks_missed_targets():
  spread = {'min': 1.0, 'median': 1.1, 'max': 1.2}
  results = {'figures': {
      'decode': {'fps': 5.0, 'size': [96, 96],
                 'ratio_vs_ffmpeg_exact': {'min': 2, 'median': 2, 'max': 2}},
      'scaling': {'speedup': spread, 'speedup_of_the_work': spread}}}
  table = summary_table(results)
  decode_row = next(l for l in table.splitlines() if l.startswith('| decode'))
  scaling_row = next(l for l in table.splitlines() if 'whole scan' in l)
  assert decode_row.endswith('| yes |')
  assert scaling_row.endswith('| **no** |') and '1.10 (1.00 - 1.20)' in scaling_row


def test_the_balance_figure_deals_segments_out_as_the_runner_does(tmp_path):
  # Worker 0 gets elements 0 and 2, worker 1 elements 1 and 3.
  assert balance.dealt_speedup([4.0, 1.0, 1.0, 1.0], 2) == 7.0 / 5.0
  # A costly 720p30 video of 6 s and a cheap 120p one of 18 s, as the
  # corpus's 1080p minute beside its 360p three: in 6-s time ranges the
  # costly one is one element that one worker decodes alone; planned by
  # cost it is three (on its 0.5-s keyframes), dealt to both.
  costly = write_video(str(tmp_path / 'costly.mp4'), 6.0, 'h264', fps=30.0,
                       size=(1280, 720), gop_seconds=0.5)
  cheap = write_video(str(tmp_path / 'cheap.mp4'), 18.0, 'h264', fps=30.0,
                      size=(160, 120), gop_seconds=0.5)
  result = balance.balance([costly, cheap], 6_000, 2)
  assert result['fixed_time']['segments'] == 4
  assert result['fixed_time']['speedup_bound'] < 1.1
  assert result['cost_and_keyframes']['segments'] == 6
  assert result['cost_and_keyframes']['speedup_bound'] > 1.5


def _keyframe_times_s(path):
  with probe.av.open(path) as container:
    stream = container.streams.video[0]
    return [float(p.pts * p.time_base) for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None]


def test_the_testsrc2_pair_has_one_keyframe_against_one_a_second(tmp_path):
  """``sparse_keyframes --source testsrc2`` (the full-size pair's encoder):
  the same length and frames, one keyframe against one a second."""
  from benchmarks import sparse_keyframes  # pylint: disable=import-outside-toplevel
  pair = sparse_keyframes.write_pair(str(tmp_path), 5.0 / 60, 160, 90, 30.0,
                                     log=lambda _: None, source='testsrc2')
  assert _keyframe_times_s(pair['sparse']) == [0.0]
  assert _keyframe_times_s(pair['dense']) == pytest.approx(
      [0.0, 1.0, 2.0, 3.0, 4.0])
  for path in pair.values():
    info = probe.probe_video(path)
    assert (info.width, info.height, info.duration_ms) == (160, 90, 5000)
