"""The benchmark harness: every performance figure against its anchor,
measured side by side in one run.

    python -m benchmarks.run [--repeats 3] [--quick] [--skip-memory]
        [--corpus-dir .cache/benchmarks/corpus] [--model model/demo_model]

Writes ``benchmarks/results.json`` and ``benchmarks/results.md``, rewrites
the table in README.md ("Benchmarks") and the cost table in docs/cost.md.
Absolute times on a shared machine are noise: each figure is a ratio of two
measurements taken in the same run, each repeated (min / median / max).

Figures (see README.md for the targets):
  1. decode: our decode + sampling at the model's rate and input size, the
     scan's default ``--sampling auto``, against the ffmpeg CLI doing exact
     F-fps sampling (``fps`` and ``scale`` filters, null sink) and against
     ffmpeg skipping the same frames (``-skip_frame``), on the same files;
  2. inference: RunInference's own batch latencies inside a scan against
     raw calls of the same SavedModel in a tight loop;
  3. end to end: scan wall time against decode-only plus inference-only;
  4. scaling: DirectRunner multi_processing, 1 worker against 2;
  5. memory: peak memory (PSS of the process tree) scanning a 60-minute
     1080p video against a 1-minute one;
  6. throughput: video-seconds scanned per CPU-second, default settings;
  7. hash matching: hash pairs compared per second;
  8. hash index: the exact multi-index against brute force
     (``benchmarks.hash_index``);
  9. sparse keyframes: a video with one keyframe against the same video
     with a 1-s GOP (``benchmarks.sparse_keyframes``).
  10. small files: a scan of N 5-s 360p clips against a plain decode loop
     plus raw inference of the same samples (``benchmarks.small_files``);
  11. archive scale: a manifest of N missing files (one ledger row each),
     wall time and peak memory of the launcher and the workers, then a
     ``--skip-scanned`` scan against N earlier rows
     (``benchmarks.archive_scale``).
  12. audio cost: a visual-only scan against a visual + audio scan
     (``--audio-model``) of the same corpus, the audio's share of wall and
     CPU time (``benchmarks.audio_cost``).

``--only small_files,archive_scale`` runs just those figures and merges
them into the existing results.json (the other figures are kept as they
were measured).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata as package_metadata
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from benchmarks import archive_scale
from benchmarks import audio_cost
from benchmarks import balance
from benchmarks import corpus
from benchmarks import cost_model
from benchmarks import generated_sections
from benchmarks import hash_index
from benchmarks import hash_matching
from benchmarks import sparse_keyframes
from benchmarks import small_files
from benchmarks.measure import Spread
from benchmarks.measure import ratio
from benchmarks.measure import run_child
from benchmarks.measure import timed
from benchmarks.measure import total_of
from pipeline.media import decode
from pipeline.hashes import pdq as hashing
from pipeline.inference import contract as model_contract
from pipeline.scan import options
from pipeline.scan import progress
from pipeline.media import probe
from pipeline.media import sampling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, 'model', 'demo_model')
DEFAULT_CORPUS = os.path.join(ROOT, '.cache', 'benchmarks', 'corpus')
RESULTS_JSON = os.path.join(ROOT, 'benchmarks', 'results.json')
RESULTS_MD = os.path.join(ROOT, 'benchmarks', 'results.md')
README = os.path.join(ROOT, 'README.md')
README_MARKERS = ('<!-- benchmark-table:start -->',
                  '<!-- benchmark-table:end -->')
SPARSE_FPS = 0.5          # the second sampling rate of the decode figure
INFERENCE_BATCH = options.DEFAULT_BATCH_SIZE
TARGETS = {
    'decode_vs_ffmpeg_exact': ('>=', 1.5),
    'inference_vs_raw': ('>=', 0.9),
    'end_to_end_overhead': ('<=', 1.25),
    'scaling_2_workers': ('>=', 1.7),
    'memory_hour_vs_minute': ('<=', 1.2),
    'memory_hour_gb': ('<', 1.5),
    'sparse_keyframes_vs_dense': ('<=', sparse_keyframes.TARGET_RATIO),
    'small_files_vs_anchor': ('<=', 1.3),
}
# Figures a full run adds after the others; ``--only`` also runs figure 4.
EXTRA_FIGURES = ('sparse_keyframes', 'small_files', 'archive_scale',
                 'audio_cost')
ONLY_FIGURES = ('scaling',) + EXTRA_FIGURES


def _versions() -> Dict[str, str]:
  versions = {'python': platform.python_version()}
  for name in ('apache-beam', 'tensorflow-cpu', 'av', 'numpy'):
    try:
      versions[name] = package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
      versions[name] = 'not installed'
  ffmpeg = shutil.which('ffmpeg')
  versions['ffmpeg CLI'] = (' '.join(subprocess.run(
      [ffmpeg, '-version'], capture_output=True, text=True, check=True
  ).stdout.split()[2:3]) if ffmpeg else 'not installed')
  return versions


def machine_info() -> Dict[str, object]:
  with open('/proc/cpuinfo', encoding='utf-8') as f:
    models = [line.split(':', 1)[1].strip() for line in f
              if line.startswith('model name')]
  with open('/proc/meminfo', encoding='utf-8') as f:
    mem_kb = int(next(line for line in f
                      if line.startswith('MemTotal')).split()[1])
  return {'cores': os.cpu_count(), 'cpu': models[0] if models else 'unknown',
          'memory_gb': round(mem_kb / 2**20, 1),
          'load_average_at_start': os.getloadavg(),
          'versions': _versions()}


# ---------------------------------------------------------------- decoding

def ffmpeg_sampling_command(path: str, fps: float, size: Tuple[int, int],
                            skip_frame: Optional[str] = None) -> List[str]:
  """The ffmpeg CLI sampling ``fps`` frames a second at ``size`` as RGB to a
  null sink; ``skip_frame`` (``nokey``, ``noref``) skips frames as ours."""
  width, height = size
  command = ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error']
  if skip_frame:
    command += ['-skip_frame', skip_frame]
    if skip_frame == 'noref':
      command += ['-skip_loop_filter', 'all']
  return command + [
      '-i', path, '-an', '-vf',
      f'fps={fps},scale={width}:{height}:flags=bilinear,format=rgb24',
      '-f', 'null', '-']


def _ffmpeg_skip(mode: str) -> Optional[str]:
  return {sampling.KEYFRAMES: 'nokey', sampling.FAST: 'noref'}.get(mode)


def our_sampling(paths: Sequence[str], fps: float, size: Tuple[int, int],
                 mode: str) -> Dict[str, object]:
  """Decodes and samples every file once, as the scan does (``sample_frames``
  probes each file, then decodes); returns counts and the sample-time
  errors, in frame intervals of each file."""
  samples, decoded, errors = 0, 0, []
  for path in paths:
    stats = decode.DecodeStats()
    found = decode.sample_frames(path, fps, size, stats=stats,
                                 sampling_mode=mode)
    samples += len(found)
    decoded += stats.frames_decoded
    errors.append(np.array([s.frame_ms - s.ts_ms for s in found]))
  return {'samples': samples, 'frames_decoded': decoded, 'errors_ms': errors}


def sample_time_errors(paths: Sequence[str], found: Dict[str, object],
                       exact: Dict[str, object]) -> Dict[str, float]:
  """How far each sample's frame is from the frame exact sampling takes for
  the same sample time, in frame intervals of its file (max and mean)."""
  intervals = np.concatenate([
      np.abs(errors - reference) * _frame_rate(path) / 1000.0
      for path, errors, reference in zip(paths, found['errors_ms'],
                                         exact['errors_ms'])])
  return {'samples': found['samples'], 'frames_decoded': found['frames_decoded'],
          'error_frames_max': float(intervals.max()),
          'error_frames_mean': float(intervals.mean())}


def decode_modes(paths: Sequence[str], fps: float) -> Dict[str, str]:
  """What ``--sampling auto`` resolves to for each file."""
  return {os.path.basename(p): sampling.resolve_sampling(
      sampling.AUTO, fps, probe.probe_video(p).keyframe_interval_ms)
          for p in paths}


def _frame_rate(path: str) -> float:
  import av  # pylint: disable=import-outside-toplevel
  with av.open(path) as container:
    return float(container.streams.video[0].average_rate)


def decode_figure(paths: Sequence[str], fps: float, size: Tuple[int, int],
                  repeats: int, log) -> Dict[str, object]:
  """Ours (auto, and each fixed mode once for accuracy) against ffmpeg."""
  modes = decode_modes(paths, fps)
  ours_wall, ours_cpu, exact_wall, ffmpeg_exact, ffmpeg_same = [], [], [], [], []
  for repeat in range(repeats):
    run = timed(lambda: our_sampling(paths, fps, size, sampling.AUTO))
    ours_wall.append(run.wall_s)
    ours_cpu.append(run.cpu_s)
    exact_wall.append(timed(lambda: our_sampling(
        paths, fps, size, sampling.EXACT)).wall_s)
    ffmpeg_exact.append(sum(run_child(ffmpeg_sampling_command(
        p, fps, size)).wall_s for p in paths))
    ffmpeg_same.append(sum(run_child(ffmpeg_sampling_command(
        p, fps, size, _ffmpeg_skip(modes[os.path.basename(p)]))).wall_s
        for p in paths))
    log(f'    decode @{fps} fps repeat {repeat + 1}: ours {ours_wall[-1]:.1f} s'
        f', ours exact {exact_wall[-1]:.1f} s, ffmpeg exact '
        f'{ffmpeg_exact[-1]:.1f} s, ffmpeg same skipping '
        f'{ffmpeg_same[-1]:.1f} s')
  exact = our_sampling(paths, fps, size, sampling.EXACT)
  accuracy = {mode: sample_time_errors(
      paths, our_sampling(paths, fps, size, mode), exact)
              for mode in (sampling.FAST, sampling.KEYFRAMES, sampling.AUTO)}
  ours_s, exact_s = Spread.of(ours_wall), Spread.of(exact_wall)
  ffmpeg_s, same_s = Spread.of(ffmpeg_exact), Spread.of(ffmpeg_same)
  return {
      'fps': fps, 'size': list(size), 'modes': modes,
      'ours_auto_s': ours_s.as_dict(), 'ours_auto_cpu_s':
      Spread.of(ours_cpu).as_dict(), 'ours_exact_s': exact_s.as_dict(),
      'ffmpeg_exact_s': ffmpeg_s.as_dict(),
      'ffmpeg_same_skipping_s': same_s.as_dict(),
      'ratio_vs_ffmpeg_exact': ratio(ffmpeg_s, ours_s).as_dict(),
      'ratio_vs_ffmpeg_same_skipping': ratio(same_s, ours_s).as_dict(),
      'ratio_exact_vs_ffmpeg_exact': ratio(ffmpeg_s, exact_s).as_dict(),
      'accuracy': accuracy,
  }


def hash_only_seconds(paths: Sequence[str], repeats: int,
                      frames_per_file: int = 10) -> Spread:
  """What hashing costs the scan on its own: the frames vPDQ picks (one a
  second) converted and hashed as the scan does, timed on
  ``frames_per_file`` decoded frames of each file, scaled to its length."""
  import av  # pylint: disable=import-outside-toplevel
  runs = []
  for _ in range(repeats):
    total = 0.0
    for path in paths:
      with av.open(path) as container:
        stream = container.streams.video[0]
        picked = [f for _, f in zip(range(frames_per_file),
                                    container.decode(stream))]
      reformatter = decode.VideoReformatter()
      run = timed(lambda: [hashing.hash_frame(decode.full_resolution_rgb(
          f, reformatter)) for f in picked])
      seconds = probe.probe_video(path).duration_ms / 1000.0
      total += run.wall_s / len(picked) * seconds / hashing.DEFAULT_SECONDS_PER_HASH
    runs.append(total)
  return Spread.of(runs)


# --------------------------------------------------------------- inference

def real_frames(paths: Sequence[str], fps: float, size: Tuple[int, int],
                count: int) -> np.ndarray:
  """``count`` real sampled frames from the corpus (cycled)."""
  frames = []
  for path in paths:
    frames += [s.image for s in decode.sample_frames(path, fps, size,
                                                     end_ms=20_000)]
  return np.stack([frames[i % len(frames)] for i in range(count)])


def raw_inference(model_dir: str, frames: np.ndarray, total: int,
                  batch_size: int, repeats: int) -> Dict[str, object]:
  """The SavedModel called in a tight loop on ``total`` frames."""
  spec = model_contract.resolve_model(model_dir)
  model = model_contract.load_signature(spec)
  batches = [frames[i:i + batch_size] for i in range(0, len(frames),
                                                     batch_size)]
  model(batches[0])  # warm up

  def loop() -> int:
    done = 0
    while done < total:
      batch = batches[(done // batch_size) % len(batches)]
      model(batch)
      done += len(batch)
    return done

  runs = [timed(loop) for _ in range(repeats)]
  return {'frames': runs[0].result,
          'frames_per_s': Spread.of([r.result / r.wall_s for r in runs]),
          'frames_per_cpu_s': Spread.of([r.result / r.cpu_s for r in runs])}


# ------------------------------------------------------------------- scans

def scan_command(inputs: Sequence[str], output: str, model_dir: str,
                 extra: Sequence[str] = ()) -> List[str]:
  command = [sys.executable, '-m', 'benchmarks.scan_job', '--output', output,
             '--model', model_dir]
  for path in inputs:
    command += ['--input', path]
  return command + list(extra)


def scan_once(inputs: Sequence[str], model_dir: str,
              extra: Sequence[str] = ()) -> Dict[str, object]:
  with tempfile.TemporaryDirectory(prefix='rescan-bench-') as output:
    child = run_child(scan_command(inputs, output, model_dir, extra),
                      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  report = json.loads(child.stdout.strip().splitlines()[-1])
  metrics = report['metrics']
  latency = metrics.get('inference_batch_latency_micro_secs', {})
  batch = metrics.get('inference_request_batch_size', {})
  return {'wall_s': report['wall_s'], 'process_wall_s': child.wall_s,
          'cpu_s': child.cpu_s, 'peak_memory_bytes': child.peak_memory_bytes,
          'inferences': metrics.get('num_inferences', {}).get('sum', 0),
          'inference_s': latency.get('sum', 0) / 1e6,
          'mean_batch': (batch.get('sum', 0) / batch['count']
                         if batch.get('count') else None),
          'frames_sampled': metrics.get('frames_sampled', {}).get('sum', 0),
          'segments': metrics.get(progress.SEGMENTS_DECODED, {}).get('sum',
                                                                     0)}


def repeated_scans(inputs, model_dir, extra, repeats, log, label):
  runs = []
  for repeat in range(repeats):
    runs.append(scan_once(inputs, model_dir, extra))
    log(f'    {label} repeat {repeat + 1}: {runs[-1]["wall_s"]:.1f} s, '
        f'{runs[-1]["cpu_s"]:.1f} CPU-s, peak '
        f'{runs[-1]["peak_memory_bytes"] / 2**20:.0f} MiB')
  return runs


def _spread(runs, key) -> Spread:
  return Spread.of([run[key] for run in runs])


def video_seconds(paths: Sequence[str]) -> float:
  return sum(probe.probe_video(p).duration_ms for p in paths) / 1000.0


# ------------------------------------------------------------------ report

def _target_met(name: str, value: float) -> bool:
  op, bound = TARGETS[name]
  return {'>=': value >= bound, '<=': value <= bound, '<': value < bound}[op]


def summary_rows(results: Dict) -> List[Tuple[str, str, Dict, str, bool]]:
  """``(figure, measured against, spread, target, met)`` per headline."""
  figures = results['figures']
  rows = []

  def add(figure, anchor, spread, target_name):
    op, bound = TARGETS[target_name]
    rows.append((figure, anchor, spread, f'{op} {bound}',
                 _target_met(target_name, spread['median'])))

  for key in ('decode', 'decode_sparse'):
    if key in figures:
      fig = figures[key]
      add(f'decode + sample @{fig["fps"]:g} fps, {fig["size"][0]}x'
          f'{fig["size"][1]} (x faster)', 'ffmpeg CLI, exact fps filter',
          fig['ratio_vs_ffmpeg_exact'], 'decode_vs_ffmpeg_exact')
  if 'inference' in figures:
    add('inference inside the scan (x raw)', 'raw SavedModel calls',
        figures['inference']['ratio_vs_raw'], 'inference_vs_raw')
  if 'end_to_end' in figures:
    add('end-to-end overhead, default settings', 'decode-only + '
        'hash-only + inference-only', figures['end_to_end']['overhead'],
        'end_to_end_overhead')
    add('end-to-end overhead, --no-hashes', 'decode-only + inference-only',
        figures['end_to_end']['overhead_no_hashes'], 'end_to_end_overhead')
    add('end-to-end overhead, default, fixed start-up subtracted',
        'decode-only + hash-only + inference-only',
        figures['end_to_end']['overhead_fixed_subtracted'],
        'end_to_end_overhead')
  if 'scaling' in figures:
    add('2 workers vs 1 (speed-up), whole scan', 'multi_processing, 1 worker',
        figures['scaling']['speedup'], 'scaling_2_workers')
    add('2 workers vs 1 (speed-up), fixed start-up subtracted',
        'multi_processing, 1 worker', figures['scaling']['speedup_of_the_work'],
        'scaling_2_workers')
  if 'sparse_keyframes' in figures:
    fig = figures['sparse_keyframes']
    add(f'one keyframe vs 1-s GOP, {fig["minutes"]:g} min {fig["height"]}p'
        f'{fig["fps"]:g} (x the time; {fig["sparse_segments"]:.0f} vs '
        f'{fig["dense_segments"]:.0f} segments)', 'the same video, 1-s GOP',
        fig['ratio'], 'sparse_keyframes_vs_dense')
  if 'memory' in figures:
    add('peak memory (tree PSS), 60-min vs 1-min 1080p', '1-minute video',
        figures['memory']['ratio'], 'memory_hour_vs_minute')
    add('peak memory (tree PSS), 60-min 1080p (GB)', '-',
        figures['memory']['hour_gb'], 'memory_hour_gb')
  if 'small_files' in figures:
    fig = figures['small_files']
    for name, what, anchor in (
        ('no_hashes', '--no-hashes', 'decode loop + raw inference, same '
         'samples'),
        ('default', 'default (hashes every frame)', 'the same anchor (no '
         'hashing in it)')):
      if name in fig['scans']:
        add(f'{fig["clips"]} small files ({fig["clip"]}), scan {what}',
            anchor, fig['scans'][name]['ratio_vs_anchor'],
            'small_files_vs_anchor')
        add(f'{fig["clips"]} small files, scan {what}, fixed start-up '
            'subtracted', anchor,
            fig['scans'][name]['ratio_fixed_subtracted'],
            'small_files_vs_anchor')
  return rows


def _fmt(spread: Dict) -> str:
  return (f'{spread["median"]:.2f} ({spread["min"]:.2f} - '
          f'{spread["max"]:.2f})')


def summary_table(results: Dict) -> str:
  lines = ['| Figure | Against | Median (min - max) | Target | Met |',
           '| --- | --- | --- | --- | --- |']
  for figure, anchor, spread, target, met in summary_rows(results):
    lines.append(f'| {figure} | {anchor} | {_fmt(spread)} | {target} | '
                 f'{"yes" if met else "**no**"} |')
  figures = results['figures']
  if 'throughput' in figures:
    fig = figures['throughput']
    lines.append(f'| throughput, default settings | video-s per CPU-s | '
                 f'{_fmt(fig["video_seconds_per_cpu_second"])} | - | - |')
  if 'hash_matching' in figures:
    fig = figures['hash_matching']
    lines.append(f'| hash matching (M pairs/s, one core) | - | '
                 f'{_fmt(fig["million_pairs_per_second"])} | - | - |')
  if 'hash_index' in figures:
    fig = figures['hash_index']
    met = fig['speedup_cpu'] >= 50
    lines.append(f'| exact hash index, 1M-hash bank (CPU speed-up) | brute '
                 f'force, same run | {fig["speedup_cpu"]:.1f} | >= 50 | '
                 f'{"yes" if met else "**no**"} |')
  for fig in figures.get('archive_scale', {}).values():
    lines += archive_scale_lines(fig)
  return '\n'.join(lines) + '\n'


def archive_scale_lines(fig: Dict) -> List[str]:
  """The archive-scale figure's rows: one ledger row per manifest row,
  and the memory each process held (no target but "does not grow")."""
  rows = fig['rows']
  lines = []
  for mode in ('in_process', 'multi_processing'):
    if mode not in fig:
      continue
    run = fig[mode]
    met = run['ledger_rows'] == rows
    lines.append(
        f'| {rows:,}-row manifest, DirectRunner {mode}: ledger rows; wall '
        f's; peak launcher / tree GB | one row per input | '
        f'{run["ledger_rows"]:,}; {run["wall_s"]:.0f} s; '
        f'{run["launcher_peak_bytes"] / 1e9:.2f} / '
        f'{run["tree_peak_bytes"] / 1e9:.2f} GB | {rows:,} rows | '
        f'{"yes" if met else "**no**"} |')
  skip = fig['skip_scanned']
  lines.append(
      f'| --skip-scanned against {fig["earlier_rows"]:,} earlier rows: wall '
      f's; peak tree GB | first scan, in process | {skip["wall_s"]:.0f} s; '
      f'{skip["tree_peak_bytes"] / 1e9:.2f} GB | - | - |')
  return lines


def render_results_markdown(results: Dict) -> str:
  machine = results['machine']
  versions = ', '.join(f'{k} {v}' for k, v in machine['versions'].items())
  out = ['# Benchmark results', '',
         f'Generated by `python -m benchmarks.run` on {results["date"]} '
         f'({results["repeats"]} repeats per figure; min / median / max).', '',
         f'Machine: {machine["cores"]} cores ({machine["cpu"]}), '
         f'{machine["memory_gb"]} GB; load average at start '
         f'{", ".join(f"{x:.2f}" for x in machine["load_average_at_start"])}.',
         f'Versions: {versions}.', '',
         *[f'`{name}` was run alone later (`--only`) on {run["date"]}, load '
           f'average at its start '
           f'{", ".join(f"{x:.2f}" for x in run["load_average_at_start"])}.'
           for name, run in results.get('extra_runs', {}).items()],
         '',
         f'Corpus: {results["corpus"]["files"]} files, '
         f'{results["corpus"]["video_seconds"] / 60:.1f} min of video '
         f'({results["corpus"]["description"]}). Model: '
         f'`{results["model"]["name"]}` at {results["model"]["fps"]:g} fps, '
         f'{results["model"]["size"][0]}x{results["model"]["size"][1]}.', '',
         '## Summary', '', summary_table(results), '## Details', '']
  for name, figure in results['figures'].items():
    out += [f'### {name}', '', '```json', json.dumps(figure, indent=2), '```',
            '']
  return '\n'.join(out)


def cost_inputs(results: Dict) -> Dict[str, object]:
  figures = results['figures']
  decode_fig = figures['decode']
  video_s = results['corpus']['video_seconds']
  return {
      'decode_video_seconds_per_cpu_second':
          video_s / decode_fig['ours_auto_cpu_s']['median'],
      'scan_video_seconds_per_cpu_second':
          figures['throughput']['video_seconds_per_cpu_second']['median'],
      'inference_frames_per_cpu_second':
          figures['inference']['raw_frames_per_cpu_s']['median'],
      'fps': results['model']['fps'],
      'model': results['model']['name'],
      'input_size': results['model']['size'],
  }


def write_outputs(results: Dict) -> None:
  with open(RESULTS_JSON, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=2)
    f.write('\n')
  with open(RESULTS_MD, 'w', encoding='utf-8') as f:
    f.write(render_results_markdown(results))
  generated_sections.rewrite_file(
      README, summary_table(results), *README_MARKERS)
  if 'cost_inputs' in results:
    generated_sections.rewrite_file(
        cost_model.DEFAULT_DOC, cost_model.render_cost_markdown(results),
        cost_model.START_MARKER, cost_model.END_MARKER)


# -------------------------------------------------------------------- main

def build_arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.run')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--quick', action='store_true',
                      help='one repeat, the first two corpus files, no '
                      'memory figure: a smoke run, not for results.md')
  parser.add_argument('--skip-memory', action='store_true')
  parser.add_argument('--corpus-dir', default=DEFAULT_CORPUS)
  parser.add_argument('--model', default=DEFAULT_MODEL)
  parser.add_argument('--no-write', action='store_true',
                      help='print the summary only')
  parser.add_argument('--json', default=None, metavar='PATH',
                      help='also write the results to PATH (a --quick run '
                      'writes nothing else)')
  parser.add_argument('--only', default=None,
                      help='comma-separated figures of ' +
                      ', '.join(ONLY_FIGURES) + ' to run alone, merged into '
                      'the existing results.json')
  parser.add_argument('--small-files', type=int, default=1000,
                      help='clips of the small-files figure')
  parser.add_argument('--archive-rows', type=int,
                      default=archive_scale.DEFAULT_ROWS,
                      help='manifest rows of the archive-scale figure '
                      '(1000000 for the issue\'s figure)')
  return parser


def scaling_figure(args, paths: Sequence[str], startup: Sequence[str],
                   repeats: int, log) -> Dict[str, object]:
  """Figure 4: the whole scan with 2 workers against 1, and the same for a
  2-s video (the fixed start-up, subtracted in ``speedup_of_the_work``)."""
  pinned = ['--decode-threads', '1', '--inference-threads', '1',
            '--runner', 'DirectRunner',
            '--direct_running_mode', 'multi_processing']
  one = repeated_scans(paths, args.model, pinned + ['--direct_num_workers',
                                                    '1'], repeats, log,
                       '1 worker')
  two = repeated_scans(paths, args.model, pinned + ['--direct_num_workers',
                                                    '2'], repeats, log,
                       '2 workers')
  fixed_one = repeated_scans(startup, args.model, pinned + [
      '--direct_num_workers', '1'], repeats, log, '1 worker, 2-s video')
  fixed_two = repeated_scans(startup, args.model, pinned + [
      '--direct_num_workers', '2'], repeats, log, '2 workers, 2-s video')
  work_one = Spread.of([r['wall_s'] - f['wall_s'] for r, f in zip(one, fixed_one)])
  work_two = Spread.of([r['wall_s'] - f['wall_s'] for r, f in zip(two, fixed_two)])
  return {
      'one_worker_s': _spread(one, 'wall_s').as_dict(),
      'two_workers_s': _spread(two, 'wall_s').as_dict(),
      'fixed_one_worker_s': _spread(fixed_one, 'wall_s').as_dict(),
      'fixed_two_workers_s': _spread(fixed_two, 'wall_s').as_dict(),
      'speedup': ratio(_spread(one, 'wall_s'), _spread(two, 'wall_s')).as_dict(),
      'speedup_of_the_work': ratio(work_one, work_two).as_dict(),
      # What the segment plan allows, dealt out as the runner does.
      'plan_balance': balance.balance(
          paths, int(options.DEFAULT_SEGMENT_SECONDS * 1000), 2)}


def extra_figures(args, names: Sequence[str], repeats: int, log
                  ) -> Dict[str, object]:
  """Figures 9, 10, 11 and 12, and with ``--only`` figure 4."""
  figures: Dict[str, object] = {}
  if 'scaling' in names:
    log('4. scaling')
    paths = corpus.write_corpus(args.corpus_dir, log)
    startup = [corpus.write_bench_video(args.corpus_dir, corpus.STARTUP_VIDEO)]
    figures['scaling'] = scaling_figure(args, paths, startup, repeats, log)
  if 'sparse_keyframes' in names:
    log('9. one keyframe against a 1-s GOP')
    width, height = sparse_keyframes.RUN_SIZE
    pair = sparse_keyframes.write_pair(
        os.path.join(args.corpus_dir, 'sparse'), sparse_keyframes.RUN_MINUTES,
        width, height, 30.0, log)
    figures['sparse_keyframes'] = dict(
        sparse_keyframes.figure(lambda inputs: scan_once(inputs, args.model),
                                pair, repeats, log),
        minutes=sparse_keyframes.RUN_MINUTES, width=width, height=height,
        fps=30.0)
  if 'small_files' in names:
    log(f'10. small files ({args.small_files} clips)')
    figures['small_files'] = small_files.small_files(
        args.small_files, args.model, args.corpus_dir, repeats, log)
  if 'archive_scale' in names:
    log(f'11. archive scale ({args.archive_rows:,} rows)')
    figures['archive_scale'] = {str(args.archive_rows): (
        archive_scale.archive_scale(args.archive_rows, args.model, log))}
  if 'audio_cost' in names:
    videos, seconds = ((2, 5.0) if args.quick else
                       (audio_cost.DEFAULT_VIDEOS, audio_cost.DEFAULT_SECONDS))
    log(f'12. audio cost ({videos} videos x {seconds:g} s)')
    folder = os.path.join(args.corpus_dir, 'audio_cost')
    paths = audio_cost.write_corpus(folder, videos, seconds)
    figures['audio_cost'] = dict(audio_cost.figure(
        lambda inputs, extra: scan_once(inputs, args.model, extra), paths,
        audio_cost.DEFAULT_AUDIO_MODEL, repeats, log), videos=videos,
        seconds=seconds)
  return figures


def run_only(args, log) -> Dict:
  """``--only``: the named figures, merged into the existing results."""
  names = [n.strip() for n in args.only.split(',') if n.strip()]
  unknown = sorted(set(names) - set(ONLY_FIGURES))
  if unknown:
    raise SystemExit(f'--only: unknown figure(s) {", ".join(unknown)}; '
                     f'choose from {", ".join(ONLY_FIGURES)}')
  with open(RESULTS_JSON, encoding='utf-8') as f:
    results = json.load(f)
  found = extra_figures(args, names, 1 if args.quick else args.repeats, log)
  for name, figure in found.items():
    if name == 'archive_scale':
      results['figures'].setdefault(name, {}).update(figure)
    else:
      results['figures'][name] = figure
  results.setdefault('extra_runs', {}).update({
      name: {'date': datetime.date.today().isoformat(),
             'load_average_at_start': list(os.getloadavg())}
      for name in found})
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2)
  if not args.no_write:
    write_outputs(results)
  log(summary_table(results))
  return results


def run(argv: Optional[Sequence[str]] = None, log=print) -> Dict:
  args = build_arg_parser().parse_args(argv)
  if args.only:
    return run_only(args, log)
  repeats = 1 if args.quick else args.repeats
  results: Dict[str, object] = {
      'date': datetime.date.today().isoformat(),
      'repeats': repeats, 'machine': machine_info(), 'figures': {}}
  figures = results['figures']
  log('corpus:')
  paths = corpus.write_corpus(args.corpus_dir, log)
  if args.quick:
    paths = paths[:2]
  spec = model_contract.resolve_model(args.model)
  size = spec.input_size
  results['model'] = {'name': spec.name, 'fps': spec.fps, 'size': list(size)}
  total_s = video_seconds(paths)
  results['corpus'] = {
      'files': len(paths), 'video_seconds': total_s,
      'description': '; '.join(
          f'{v.file_name} {v.width}x{v.height} {v.fps:g} fps '
          f'{v.seconds:g} s GOP {v.gop_seconds:g} s'
          for v in corpus.CORPUS[:len(paths)])}

  log('1. decode and sample')
  figures['decode'] = decode_figure(paths, spec.fps, size, repeats, log)
  figures['decode_sparse'] = decode_figure(paths, SPARSE_FPS, size, repeats,
                                           log)

  log('3. end to end (and 2. inference, 6. throughput)')
  default_runs = repeated_scans(paths, args.model, [], repeats, log,
                                'scan (default)')
  no_hash_runs = repeated_scans(paths, args.model, ['--no-hashes'], repeats,
                                log, 'scan --no-hashes')
  inferences = int(default_runs[0]['inferences'])
  frames = real_frames(paths, spec.fps, size, 256)
  raw = raw_inference(args.model, frames, inferences, INFERENCE_BATCH,
                      repeats)
  inside = Spread.of([r['inferences'] / r['inference_s'] for r in default_runs])
  log(f'    inference: inside the scan {inside.median:.0f} frames/s (mean '
      f'batch {statistics.fmean(r["mean_batch"] for r in default_runs):.1f}),'
      f' raw {raw["frames_per_s"].median:.0f} frames/s')
  figures['inference'] = {
      'frames': inferences, 'mean_batch_inside':
      statistics.fmean(r['mean_batch'] for r in default_runs),
      'inside_frames_per_s': inside.as_dict(),
      'raw_frames_per_s': raw['frames_per_s'].as_dict(),
      'raw_frames_per_cpu_s': raw['frames_per_cpu_s'].as_dict(),
      'ratio_vs_raw': ratio(inside, raw['frames_per_s']).as_dict()}
  decode_only = Spread(**figures['decode']['ours_auto_s'])
  inference_only = Spread(inferences / raw['frames_per_s'].max,
                          inferences / raw['frames_per_s'].median,
                          inferences / raw['frames_per_s'].min)
  hash_only = hash_only_seconds(paths, repeats)
  anchor = total_of(decode_only, inference_only)
  startup = [corpus.write_bench_video(args.corpus_dir, corpus.STARTUP_VIDEO)]
  fixed = repeated_scans(startup, args.model, [], repeats, log,
                         'scan of a 2-s video (fixed cost)')
  fixed_s = _spread(fixed, 'wall_s')
  figures['end_to_end'] = {
      'scan_s': _spread(default_runs, 'wall_s').as_dict(),
      'scan_no_hashes_s': _spread(no_hash_runs, 'wall_s').as_dict(),
      'decode_only_s': decode_only.as_dict(),
      'inference_only_s': inference_only.as_dict(),
      'hash_only_s': hash_only.as_dict(),
      'overhead': ratio(_spread(default_runs, 'wall_s'),
                        total_of(anchor, hash_only)).as_dict(),
      'overhead_no_hashes': ratio(_spread(no_hash_runs, 'wall_s'),
                                  anchor).as_dict(),
      'fixed_s': fixed_s.as_dict(),
      'overhead_fixed_subtracted': ratio(
          Spread.of([r['wall_s'] - f['wall_s']
                     for r, f in zip(default_runs, fixed)]),
          total_of(anchor, hash_only)).as_dict()}
  figures['throughput'] = {
      'video_seconds': total_s,
      'video_seconds_per_cpu_second': Spread.of(
          [total_s / r['cpu_s'] for r in default_runs]).as_dict(),
      'video_seconds_per_wall_second': Spread.of(
          [total_s / r['process_wall_s'] for r in default_runs]).as_dict()}

  log('4. scaling')
  figures['scaling'] = scaling_figure(args, paths, startup, repeats, log)

  if not (args.quick or args.skip_memory):
    log('5. memory')
    minute, hour = corpus.write_hour_video(args.corpus_dir)
    minute_run = scan_once([minute], args.model)
    log(f'    1 minute: peak {minute_run["peak_memory_bytes"] / 2**20:.0f} MiB')
    hour_run = scan_once([hour], args.model)
    log(f'    60 minutes: peak {hour_run["peak_memory_bytes"] / 2**20:.0f} MiB '
        f'in {hour_run["wall_s"]:.0f} s')
    minute_gb = minute_run['peak_memory_bytes'] / 1e9
    hour_gb = hour_run['peak_memory_bytes'] / 1e9
    figures['memory'] = {
        'minute_gb': Spread.of([minute_gb]).as_dict(),
        'hour_gb': Spread.of([hour_gb]).as_dict(),
        'hour_scan_s': hour_run['wall_s'],
        'ratio': Spread.of([hour_gb / minute_gb]).as_dict()}

  log('7. hash matching')
  matches = [hash_matching.matching_benchmark(
      bank_hashes=10_000, stored_hashes=100_000 if args.quick else 500_000)
             for _ in range(repeats)]
  figures['hash_matching'] = {
      'bank_hashes': matches[0]['bank_hashes'],
      'stored_hashes': matches[0]['stored_hashes'],
      'million_pairs_per_second': Spread.of(
          [m['pairs_per_second'] / 1e6 for m in matches]).as_dict(),
      'planted_found': matches[0]['planted_found'],
      'false_matches': matches[0]['false_matches']}

  log('8. indexed hash matching (1M-hash bank)')
  indexed = hash_index.index_benchmark(
      bank_hashes=1_000_000,
      stored_hashes=200_000 if args.quick else 5_000_000, brute_videos=20)
  figures['hash_index'] = {key: indexed[key] for key in (
      'bank_hashes', 'stored_hashes', 'index_build_seconds', 'index_bytes',
      'index_cpu_us_per_hash', 'brute_cpu_us_per_hash', 'speedup_cpu',
      'speedup', 'peak_rss_bytes', 'false_matches')}

  if not args.quick:
    figures.update(extra_figures(args, EXTRA_FIGURES, repeats, log))

  results['cost_inputs'] = cost_inputs(results)
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2)
  if not args.no_write and not args.quick:
    write_outputs(results)
  log(summary_table(results))
  return results


def main(argv: Optional[Sequence[str]] = None) -> int:
  run(argv)
  return 0


if __name__ == '__main__':
  sys.exit(main())
