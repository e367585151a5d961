"""Many small files (issue #16, item 4): the per-video fixed cost of a scan,
and a scan of N five-second 360p clips against a plain decode loop plus
raw inference of the same samples, side by side in one run.

    python -m benchmarks.small_files [--clips 1000] [--model DIR]

* anchor: ``decode.sample_frames`` over every clip in one loop (probe, then
  decode and sample as the scan's default ``--sampling auto`` does), plus
  the SavedModel called in a tight loop on as many samples;
* scan: the whole scan (``--no-hashes``, since the anchor does not hash;
  and with the default hashes) of the same clips, minus the fixed cost of a
  scan of one 2-s clip (workers starting, the model loading);
* per video (in this process, one clip, repeated): ``storage.identify``,
  the probe, opening the container, decoding and sampling it, and the same
  decode run in a watched child process as ``--decode-isolation
  subprocess`` runs it (Beam's ``_SubprocessDoFn``: one reused child, the
  samples pickled back); what is left of the scan's time per video is the
  graph's own hand-offs (shuffles, RunInference's batching, assembly).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import av

from benchmarks import corpus
from benchmarks.measure import print_figure
from benchmarks.measure import Spread
from benchmarks.measure import timed
from pipeline.inference import contract as model_contract
from pipeline.media import decode
from pipeline.media import probe
from pipeline.media import sampling
from pipeline.scan import options
from pipeline.storage import files as storage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, 'model', 'demo_model')
DEFAULT_CORPUS = os.path.join(ROOT, '.cache', 'benchmarks', 'corpus')
DEFAULT_CLIPS = 1000
SMALL_CLIP = corpus.BenchVideo('clip_360p_h264_5s', corpus.H264, 640, 360,
                               25.0, 5.0, 2.0)
PER_VIDEO_REPEATS = 20


def write_clips(corpus_dir: str, folder: str, count: int) -> List[str]:
  """``count`` copies of one 5-s 360p clip, each its own file."""
  return corpus.copies(corpus.write_bench_video(corpus_dir, SMALL_CLIP),
                       folder, count)


def _median_ms(fn: Callable[[], object], repeats: int = PER_VIDEO_REPEATS
               ) -> float:
  times = []
  for _ in range(repeats):
    started = time.perf_counter()
    fn()
    times.append(time.perf_counter() - started)
  return statistics.median(times) * 1000


def _open_and_close(path: str) -> None:
  with av.open(path) as container:
    _ = container.streams.video[0]


def _decode_samples(path: str, fps: float, size) -> int:
  return len(decode.sample_frames(path, fps, size,
                                  sampling_mode=sampling.AUTO))


def _decode_in_child(path: str, fps: float, size) -> list:
  """What the decode child does and sends back: the samples, pickled."""
  return decode.sample_frames(path, fps, size, sampling_mode=sampling.AUTO)


def per_video_costs(path: str, fps: float, size) -> Dict[str, float]:
  """Milliseconds per video of each fixed step, on one clip (medians)."""
  costs = {
      'identify_ms': _median_ms(lambda: storage.identify(path)),
      'probe_ms': _median_ms(lambda: probe.probe_video(path)),
      'open_ms': _median_ms(lambda: _open_and_close(path)),
      'probe_decode_sample_ms': _median_ms(
          lambda: _decode_samples(path, fps, size)),
  }
  with concurrent.futures.ProcessPoolExecutor(1) as pool:
    pool.submit(_decode_in_child, path, fps, size).result()  # start it
    costs['in_child_ms'] = _median_ms(
        lambda: pool.submit(_decode_in_child, path, fps, size).result())
  costs['child_hand_off_ms'] = (costs['in_child_ms'] -
                                costs['probe_decode_sample_ms'])
  return costs


def small_files(clips: int, model_dir: str, corpus_dir: str = DEFAULT_CORPUS,
                repeats: int = 1, log=print) -> Dict[str, object]:
  """The figure at ``clips`` clips."""
  from benchmarks import run as harness  # pylint: disable=import-outside-toplevel
  spec = model_contract.resolve_model(model_dir)
  size = spec.input_size
  figure: Dict[str, object] = {'clips': clips,
                               'clip': f'{SMALL_CLIP.width}x{SMALL_CLIP.height}'
                                       f' {SMALL_CLIP.seconds:g} s'}
  with tempfile.TemporaryDirectory(prefix='rescan-small-') as folder:
    paths = write_clips(corpus_dir, folder, clips)
    figure['per_video'] = per_video_costs(paths[0], spec.fps, size)
    log('    per video: ' + ', '.join(
        f'{k} {v:.1f}' for k, v in figure['per_video'].items()))
    frames = harness.real_frames(paths[:1], spec.fps, size, 256)
    startup = [corpus.write_bench_video(corpus_dir, corpus.STARTUP_VIDEO)]
    # Each repeat measures the anchor and the scans back to back, and each
    # ratio pairs a scan with the anchor of its own repeat, so that a
    # change of load on a shared machine moves both sides.
    decode_runs, inference_runs, samples = [], [], 0
    runs: Dict[str, List[Dict]] = {'no_hashes': [], 'default': []}
    fixed: Dict[str, List[Dict]] = {'no_hashes': [], 'default': []}
    for _ in range(repeats):
      loop = timed(lambda: sum(_decode_samples(p, spec.fps, size)
                               for p in paths))
      samples = loop.result
      raw = harness.raw_inference(model_dir, frames, samples,
                                  options.DEFAULT_BATCH_SIZE, 1)
      decode_runs.append(loop.wall_s)
      inference_runs.append(samples / raw['frames_per_s'].median)
      for name, extra in (('no_hashes', ['--no-hashes']), ('default', [])):
        runs[name].append(harness.scan_once(
            [os.path.join(folder, '*.mp4')], model_dir, extra))
        fixed[name].append(harness.scan_once(startup, model_dir, extra))
    anchors = [d + i for d, i in zip(decode_runs, inference_runs)]
    anchor = Spread.of(anchors)
    scans = {}
    for name in runs:
      scan_s = [r['wall_s'] for r in runs[name]]
      work_s = [r['wall_s'] - f['wall_s']
                for r, f in zip(runs[name], fixed[name])]
      scans[name] = {
          'scan_s': Spread.of(scan_s).as_dict(),
          'fixed_s': Spread.of([f['wall_s'] for f in fixed[name]]).as_dict(),
          'frames_sampled': runs[name][0]['frames_sampled'],
          'mean_inference_batch': runs[name][0]['mean_batch'],
          'ratio_vs_anchor': Spread.of(
              [s / a for s, a in zip(scan_s, anchors)]).as_dict(),
          'ratio_fixed_subtracted': Spread.of(
              [w / a for w, a in zip(work_s, anchors)]).as_dict(),
          'ms_per_video_over_anchor': Spread.of(
              [(w - a) / clips * 1000 for w, a in zip(work_s, anchors)]
          ).as_dict()}
      log(f'    scan {name}: {statistics.median(scan_s):.1f} s (fixed '
          f'{scans[name]["fixed_s"]["median"]:.1f} s) against decode '
          f'{statistics.median(decode_runs):.1f} s + inference '
          f'{statistics.median(inference_runs):.1f} s: '
          f'{scans[name]["ratio_vs_anchor"]["median"]:.2f}x, '
          f'{scans[name]["ratio_fixed_subtracted"]["median"]:.2f}x without '
          'the fixed cost')
    decode_s = Spread.of(decode_runs)
    inference_s = Spread.of(inference_runs)
  figure.update({'samples': samples, 'decode_loop_s': decode_s.as_dict(),
                 'raw_inference_s': inference_s.as_dict(),
                 'anchor_s': anchor.as_dict(), 'scans': scans})
  return figure


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.small_files')
  parser.add_argument('--clips', type=int, default=DEFAULT_CLIPS)
  parser.add_argument('--model', default=DEFAULT_MODEL)
  parser.add_argument('--corpus-dir', default=DEFAULT_CORPUS)
  parser.add_argument('--repeats', type=int, default=1)
  parser.add_argument('--json', default=None, metavar='PATH')
  args = parser.parse_args(argv)
  figure = small_files(args.clips, args.model, args.corpus_dir, args.repeats)
  print_figure(figure, args.json)
  return 0


if __name__ == '__main__':
  sys.exit(main())
