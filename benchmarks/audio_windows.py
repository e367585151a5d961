"""What cutting audio windows costs beside the frames of the same segments.

    python -m benchmarks.audio_windows [--seconds 180] [--segment-seconds 60]
        [--repeats 3]

One generated video (640x360 H.264 at 30 fps, AAC stereo 44.1 kHz with
noise bursts) is decoded in segments of ``--segment-seconds``, side by
side in one run:

* ``frames``: ``decode.iter_samples`` decoding every frame, as a default
  scan does (``exact``: hashing needs every frame; the hashing itself is
  left out), 1 sample per second at 224x224, without audio;
* ``frames + audio``: the same with ``audio=AudioRequest`` (a 16 kHz model,
  0.96 s windows every 0.48 s);
* ``audio alone``: ``audio.cut_audio_windows`` on each segment;
* ``audio, one plain decode``: the audio stream decoded and resampled once
  from the start by one decoder and one resampler, the floor the global
  blocks are measured against (the price of byte-identical segments).

CPU seconds (process time), the best of ``--repeats``.  Not a test:
prints a summary and returns it as a dict.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Callable, Dict

import av
import numpy as np

from benchmarks import measure
from pipeline.media import audio
from pipeline.media import decode
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds
from tests.fixtures import audio_media

GRID = audio.AudioGrid(sample_rate=16000, window_samples=15360,
                       hop_samples=7680)


def write_bench_video(path: str, seconds: float) -> str:
  """A 640x360 30 fps H.264 video with AAC stereo bursts (one every 7 s)
  (also ``benchmarks.audio_cost``'s corpus)."""
  bursts = audio_media.bursts([t + 0.5 for t in range(0, int(seconds), 7)],
                              0.3, 2)
  saved = audio_media.FPS, audio_media.SIZE
  audio_media.FPS, audio_media.SIZE = 30, (640, 360)
  try:
    return audio_media.write_with_audio(
        path, seconds,
        [audio_media.Track('aac', 44100, 'stereo', bursts)], 'mp4', 2.0)
  finally:
    audio_media.FPS, audio_media.SIZE = saved


def _best(fn: Callable[[], object], repeats: int) -> float:
  return min(measure.timed(fn).cpu_s for _ in range(repeats))


def _ranges(seconds: float, segment_seconds: float):
  edges = list(np.arange(0, seconds, segment_seconds) * 1000) + [
      seconds * 1000]
  return [(int(a), int(b)) for a, b in zip(edges, edges[1:])]


def run(seconds: float, segment_seconds: float, repeats: int) -> Dict:
  folder = tempfile.mkdtemp(prefix='audio-bench-')
  path = write_bench_video(os.path.join(folder, 'bench.mp4'), seconds)
  ranges = _ranges(seconds, segment_seconds)

  def frames(with_audio: bool):
    def go():
      for start, end in ranges:
        with open(path, 'rb') as source:
          request = audio.AudioRequest(GRID) if with_audio else None
          for _ in decode.iter_samples(source, start, end, 1.0, (224, 224),
                                       mode='exact', audio=request):
            pass
    return go

  def audio_alone():
    for start, end in ranges:
      with av.open(path) as container:
        origin = stream_start_seconds(select_video_stream(container))
        audio.cut_audio_windows(container, origin, GRID, start, end)

  def plain_audio():
    with av.open(path) as container:
      resampler = av.AudioResampler(format='flt', layout='mono',
                                    rate=GRID.sample_rate)
      for frame in container.decode(container.streams.audio[0]):
        resampler.resample(frame)
      resampler.resample(None)

  result = {
      'seconds': seconds, 'segment_seconds': segment_seconds,
      'frames_cpu_s': _best(frames(False), repeats),
      'frames_and_audio_cpu_s': _best(frames(True), repeats),
      'audio_alone_cpu_s': _best(audio_alone, repeats),
      'audio_plain_decode_cpu_s': _best(plain_audio, repeats),
      'load': os.getloadavg()[0],
  }
  result['audio_share_of_decode'] = (
      (result['frames_and_audio_cpu_s'] - result['frames_cpu_s'])
      / result['frames_and_audio_cpu_s'])
  result['blocks_over_plain'] = (result['audio_alone_cpu_s']
                                 / result['audio_plain_decode_cpu_s'])
  return result


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seconds', type=float, default=180.0)
  parser.add_argument('--segment-seconds', type=float, default=60.0)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args(argv)
  result = run(args.seconds, args.segment_seconds, args.repeats)
  for key, value in result.items():
    print(f'{key:28s} {value:.3f}' if isinstance(value, float)
          else f'{key:28s} {value}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
