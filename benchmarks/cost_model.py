"""Dollars per 1,000 hours of video: the scan on Dataflow against video APIs.

    python -m benchmarks.cost_model benchmarks/results.json
        [--doc docs/cost.md] [--l4-frames-per-second 3000]

Reads ``cost_inputs`` (written by ``benchmarks/run.py``: decode and scan
rates in video-seconds per CPU-second, CPU inference in frames per
CPU-second, the sampling rate), prices the scan on Dataflow batch workers
with an NVIDIA L4 (g2-standard-4 and g2-standard-8) and on CPU-only workers
(n2-standard-4), and compares it with the list prices per minute of Google
Cloud Video Intelligence explicit content detection and Amazon Rekognition
Video content moderation. Prints the table and rewrites the generated
section of ``docs/cost.md`` (between ``<!-- cost-table:start -->`` and
``<!-- cost-table:end -->``). Method, sources and uncertainties:
``docs/cost.md``.

A worker's throughput is the smaller of its CPU capacity (vCPUs x the
measured rate) and its GPU capacity (L4 frames/s / frames sampled per
video-second); worker-hours per 1,000 h of video = 1,000 / throughput
(video-seconds per second), and dollars = worker-hours x the worker's
hourly price (vCPU + memory + disk + GPU, as Dataflow bills them).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from benchmarks import generated_sections

VIDEO_HOURS = 1_000.0
MINUTES_PER_HOUR = 60.0
START_MARKER = '<!-- cost-table:start -->'
END_MARKER = '<!-- cost-table:end -->'
DEFAULT_DOC = Path(__file__).resolve().parent.parent / 'docs' / 'cost.md'
REGENERATE = 'python -m benchmarks.cost_model benchmarks/results.json'


@dataclasses.dataclass(frozen=True)
class ScanRates:
  """The measured numbers of ``results.json["cost_inputs"]``."""
  decode_video_seconds_per_cpu_second: float
  scan_video_seconds_per_cpu_second: float
  inference_frames_per_cpu_second: float
  fps: float
  model: str = ''
  input_size: Tuple[int, ...] = ()

  def __post_init__(self) -> None:
    for field in ('decode_video_seconds_per_cpu_second',
                  'scan_video_seconds_per_cpu_second',
                  'inference_frames_per_cpu_second', 'fps'):
      value = getattr(self, field)
      if not (isinstance(value, (int, float)) and math.isfinite(value)
              and value > 0):
        raise ValueError(f'cost_inputs.{field} must be a positive number, '
                         f'not {value!r}')

  @classmethod
  def from_cost_inputs(cls, cost_inputs: Mapping[str, Any]) -> 'ScanRates':
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names[:4] if n not in cost_inputs]
    if missing:
      raise KeyError(f'cost_inputs lacks {", ".join(missing)}')
    values = {n: cost_inputs[n] for n in names if n in cost_inputs}
    if 'input_size' in values:
      values['input_size'] = tuple(values['input_size'])
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class DataflowPrices:
  """Dataflow list prices per hour for one region and price tier."""
  region: str
  tier: str
  vcpu_hour: float
  memory_gb_hour: float
  pd_standard_gb_hour: float
  pd_ssd_gb_hour: float
  l4_gpu_hour: float
  source: str

  def disk_gb_hour(self, disk_type: str) -> float:
    rates = {'pd-standard': self.pd_standard_gb_hour,
             'pd-ssd': self.pd_ssd_gb_hour}
    if disk_type not in rates:
      raise ValueError(f'no price for disk type {disk_type!r}')
    return rates[disk_type]


@dataclasses.dataclass(frozen=True)
class WorkerShape:
  """A Dataflow worker: its machine type and what Dataflow bills for it."""
  machine_type: str
  vcpus: int
  memory_gb: float
  l4_gpus: int
  disk_gb: float
  disk_type: str


@dataclasses.dataclass(frozen=True)
class PriceTier:
  """``usd_per_minute`` for billable minutes up to ``up_to_minutes`` a
  month (``None``: no upper bound)."""
  up_to_minutes: Optional[float]
  usd_per_minute: float


@dataclasses.dataclass(frozen=True)
class PerMinuteApiPrice:
  """A video API billed per minute of video, per feature, per month."""
  name: str
  feature: str
  tiers: Tuple[PriceTier, ...]
  monthly_free_minutes: float
  above_last_tier: str
  source: str


@dataclasses.dataclass(frozen=True)
class WorkerThroughput:
  """Video-seconds a worker scans per wall-clock second, and what bounds it."""
  cpu_video_seconds_per_second: float
  gpu_video_seconds_per_second: float  # math.inf without a GPU
  bound: str  # 'CPU' or 'GPU'

  @property
  def video_seconds_per_second(self) -> float:
    return min(self.cpu_video_seconds_per_second,
               self.gpu_video_seconds_per_second)


@dataclasses.dataclass(frozen=True)
class CostLine:
  """One row of the table."""
  option: str
  usd: float
  basis: str
  assumptions: str


# Dataflow batch workers, region us-central1 (Iowa), on-demand list prices:
# no committed-use discount, no FlexRS, no Spot/preemptible VMs, not Dataflow
# Prime. Source: the Dataflow pricing page,
# https://cloud.google.com/dataflow/pricing, as transcribed by Apache Beam
# 2.77.0 (the SDK this project pins) in
# apache_beam/testing/load_tests/dataflow_cost_consts.py ("These values are
# Dataflow costs for running jobs in us-central1. The cost values are found
# at https://cloud.google.com/dataflow/pricing"): VCPU_PER_HR_BATCH 0.056,
# MEM_PER_GB_HR_BATCH 0.003557, PD_PER_GB_HR 0.000054, PD_SSD_PER_GB_HR
# 0.000298, L4_PER_GPU_PER_HOUR 0.672. The stored copies of Google's page
# searched on 2026-12-02 (undated) do not show the rendered price table, so
# these numbers are Beam 2.77.0's reading of it, not a fresh one.
DATAFLOW_US_CENTRAL1_BATCH = DataflowPrices(
    region='us-central1',
    tier='Dataflow batch, on-demand',
    vcpu_hour=0.056,
    memory_gb_hour=0.003557,
    pd_standard_gb_hour=0.000054,
    pd_ssd_gb_hour=0.000298,
    l4_gpu_hour=0.672,
    source='cloud.google.com/dataflow/pricing via Apache Beam 2.77.0 '
           'dataflow_cost_consts.py')

# Worker shapes from the Compute Engine accelerator-optimized (G2) and
# general-purpose (N2) machine tables,
# https://cloud.google.com/compute/docs/accelerator-optimized-machines and
# https://cloud.google.com/compute/docs/general-purpose-machines: g2-standard-4
# is 1 L4, 4 vCPUs, 16 GB; g2-standard-8 is 1 L4, 8 vCPUs, 32 GB (this
# project's Terraform default); n2-standard-4 is 4 vCPUs, 16 GB. Disk: the
# 25 GB default boot disk of batch jobs on Dataflow shuffle (the default),
# https://cloud.google.com/dataflow/docs/shuffle-for-batch (last updated
# 2025-09-04). G2 disks are priced at the SSD PD rate (assumption: G2 takes
# balanced or SSD PD, not standard PD, and Beam lists no balanced rate).
G2_STANDARD_4 = WorkerShape('g2-standard-4', 4, 16.0, 1, 25.0, 'pd-ssd')
G2_STANDARD_8 = WorkerShape('g2-standard-8', 8, 32.0, 1, 25.0, 'pd-ssd')
N2_STANDARD_4 = WorkerShape('n2-standard-4', 4, 16.0, 0, 25.0, 'pd-standard')

# MLPerf Inference v3.0 (April 2023), closed division, NVIDIA, system
# L4x1_TRT (one L4, TensorRT, INT8), ResNet-50 v1.5, Offline: "Samples per
# second: 13157.8", mlcommons/inference_results_v3.0,
# closed/NVIDIA/results/L4x1_TRT/resnet50/Offline/performance/run_1/mlperf_log_summary.txt
MLPERF_V3_0_L4_RESNET50_OFFLINE_SAMPLES_PER_SECOND = 13_157.8
# Assumption, not a measurement: TensorFlow through RunInference (no
# TensorRT, no INT8) gets a quarter of that rate, and MobileNetV3-Small at
# 96x96 (about 1/370 of ResNet-50's multiply-adds) gets no credit for being
# smaller. 0.25 x 13,157.8 = 3,289 frames/s, rounded down.
L4_FRAMES_PER_SECOND = 3_000.0

# Google Cloud Video Intelligence API, stored video annotation, "Explicit
# content detection": first 1,000 minutes a month free, then $0.10 a minute;
# over 100,000 minutes a month, "contact a sales representative". Prices are
# per minute of video per feature; partial minutes round up to the next full
# minute; volume is per month.
# https://cloud.google.com/video-intelligence/pricing, stored copies (ja and
# zh-cn) searched 2026-12-02: undated, they carry the notice that celebrity
# recognition ends on 2025-09-16. The API is
# deprecated from 2026-09-14 and shuts down on 2027-09-14 (explicit content
# page, last updated 2026-09-09,
# https://cloud.google.com/video-intelligence/docs/feature-explicit-content).
VIDEO_INTELLIGENCE_EXPLICIT = PerMinuteApiPrice(
    name='Google Cloud Video Intelligence',
    feature='explicit content detection, stored video',
    tiers=(PriceTier(100_000.0, 0.10),),
    monthly_free_minutes=1_000.0,
    above_last_tier='contact sales over 100,000 minutes a month',
    source='cloud.google.com/video-intelligence/pricing')

# Amazon Rekognition Video, stored video analysis, content moderation
# (StartContentModeration): $0.10 per minute of video, US East (N. Virginia),
# one tier. https://aws.amazon.com/rekognition/pricing/. The stored copy of
# that page searched 2026-12-02 renders its price table dynamically and shows
# no number; $0.10 is from public transcriptions that cite that page (one of
# them dated September 2026), so it is marked unconfirmed in docs/cost.md.
# The AWS Free Tier's video minutes for new accounts are ignored.
REKOGNITION_CONTENT_MODERATION = PerMinuteApiPrice(
    name='Amazon Rekognition Video',
    feature='content moderation, stored video',
    tiers=(PriceTier(None, 0.10),),
    monthly_free_minutes=0.0,
    above_last_tier='',
    source='aws.amazon.com/rekognition/pricing')

API_PRICES: Tuple[PerMinuteApiPrice, ...] = (VIDEO_INTELLIGENCE_EXPLICIT,
                                             REKOGNITION_CONTENT_MODERATION)


def worker_usd_per_hour(shape: WorkerShape, prices: DataflowPrices) -> float:
  """What Dataflow bills for one worker-hour of ``shape``."""
  return (shape.vcpus * prices.vcpu_hour
          + shape.memory_gb * prices.memory_gb_hour
          + shape.disk_gb * prices.disk_gb_hour(shape.disk_type)
          + shape.l4_gpus * prices.l4_gpu_hour)


def non_inference_video_seconds_per_cpu_second(rates: ScanRates) -> float:
  """The CPU rate of the scan once inference leaves the CPU: CPU-seconds per
  video-second of the whole scan minus those of CPU inference."""
  cpu_seconds = (1.0 / rates.scan_video_seconds_per_cpu_second
                 - rates.fps / rates.inference_frames_per_cpu_second)
  if cpu_seconds <= 0:
    raise ValueError('the whole scan is measured faster than its CPU '
                     'inference alone: the cost inputs are inconsistent')
  return 1.0 / cpu_seconds


def worker_throughput(shape: WorkerShape, cpu_video_seconds_per_cpu_second:
                      float, gpu_frames_per_second: float,
                      fps: float) -> WorkerThroughput:
  """CPU capacity (vCPUs x rate) against GPU capacity (frames/s / fps)."""
  cpu = shape.vcpus * cpu_video_seconds_per_cpu_second
  gpu = (shape.l4_gpus * gpu_frames_per_second / fps if shape.l4_gpus
         else math.inf)
  return WorkerThroughput(cpu, gpu, 'CPU' if cpu <= gpu else 'GPU')


def gpu_bound_below_frames_per_second(shape: WorkerShape,
                                      cpu_video_seconds_per_cpu_second: float,
                                      fps: float) -> float:
  """The L4 rate under which the worker waits on its GPU, not its CPUs."""
  return shape.vcpus * cpu_video_seconds_per_cpu_second * fps / shape.l4_gpus


def worker_hours(video_hours: float, video_seconds_per_second: float) -> float:
  return video_hours / video_seconds_per_second


def tiered_usd(minutes: float, tiers: Sequence[PriceTier],
               above_last_tier: str = '') -> float:
  """Graduated pricing: each tier's price on the minutes that fall in it."""
  total, floor = 0.0, 0.0
  for tier in tiers:
    top = math.inf if tier.up_to_minutes is None else tier.up_to_minutes
    total += max(0.0, min(minutes, top) - floor) * tier.usd_per_minute
    floor = top
  if minutes > floor:
    raise ValueError(f'{minutes:,.0f} minutes is past the last listed tier '
                     f'({above_last_tier or "no price"})')
  return total


def api_usd(price: PerMinuteApiPrice, video_hours: float,
            apply_free_tier: bool = False) -> float:
  """List price of ``video_hours`` in one month, for one feature."""
  minutes = video_hours * MINUTES_PER_HOUR
  if apply_free_tier:
    minutes = max(0.0, minutes - price.monthly_free_minutes)
  return tiered_usd(minutes, price.tiers, price.above_last_tier)


def _tier_text(price: PerMinuteApiPrice, minutes: float) -> str:
  """Which tier the last of ``minutes`` falls in, in words."""
  floor = 0.0
  for tier in price.tiers:
    top = math.inf if tier.up_to_minutes is None else tier.up_to_minutes
    if minutes <= top:
      if tier.up_to_minutes is None:
        span = 'no volume tiers' if floor == 0 else f'over {floor:,.0f} min'
      else:
        span = f'{floor:,.0f} to {top:,.0f} min a month'
      return f'${tier.usd_per_minute:.2f}/min ({span})'
    floor = top
  return price.above_last_tier


def dataflow_line(shape: WorkerShape, cpu_rate: float, cpu_work: str,
                  rates: ScanRates, prices: DataflowPrices,
                  l4_frames_per_second: float,
                  video_hours: float = VIDEO_HOURS) -> CostLine:
  throughput = worker_throughput(shape, cpu_rate, l4_frames_per_second,
                                 rates.fps)
  hourly = worker_usd_per_hour(shape, prices)
  hours = worker_hours(video_hours, throughput.video_seconds_per_second)
  gpu = f' + {shape.l4_gpus} L4' if shape.l4_gpus else ' (CPU only)'
  capacity = (f'{shape.vcpus} vCPU x {cpu_rate:.2f} video-s/CPU-s = '
              f'{throughput.cpu_video_seconds_per_second:.1f} video-s/s')
  if shape.l4_gpus:
    capacity += (f'; L4 {l4_frames_per_second:,.0f} frames/s / '
                 f'{rates.fps:g} fps = '
                 f'{throughput.gpu_video_seconds_per_second:,.0f} video-s/s')
  return CostLine(
      option=f'Dataflow batch, {shape.machine_type}{gpu}: {cpu_work}',
      usd=hours * hourly,
      basis=f'{hours:,.1f} worker-h x ${hourly:.4f}/h, '
            f'{throughput.bound}-bound',
      assumptions=capacity)


def api_line(price: PerMinuteApiPrice,
             video_hours: float = VIDEO_HOURS) -> CostLine:
  minutes = video_hours * MINUTES_PER_HOUR
  free = api_usd(price, video_hours, apply_free_tier=True)
  free_note = (f'; ${free:,.2f} if all in one month with the '
               f'{price.monthly_free_minutes:,.0f} free minutes'
               if price.monthly_free_minutes else '; free tier ignored')
  return CostLine(
      option=f'{price.name}, {price.feature}',
      usd=api_usd(price, video_hours),
      basis=f'{minutes:,.0f} min, {_tier_text(price, minutes)}',
      assumptions=f'list price, {price.source}{free_note}')


def cost_lines(rates: ScanRates,
               l4_frames_per_second: float = L4_FRAMES_PER_SECOND,
               prices: DataflowPrices = DATAFLOW_US_CENTRAL1_BATCH,
               video_hours: float = VIDEO_HOURS) -> Tuple[CostLine, ...]:
  """Every option of the table, in its order."""
  decode = rates.decode_video_seconds_per_cpu_second
  rest = non_inference_video_seconds_per_cpu_second(rates)
  lines = []
  for shape in (G2_STANDARD_4, G2_STANDARD_8):
    lines.append(dataflow_line(shape, decode, 'CPUs decode + sample only',
                               rates, prices, l4_frames_per_second,
                               video_hours))
    lines.append(dataflow_line(shape, rest,
                               'CPUs run all but inference', rates, prices,
                               l4_frames_per_second, video_hours))
  lines.append(dataflow_line(N2_STANDARD_4,
                             rates.scan_video_seconds_per_cpu_second,
                             'whole scan incl. inference on CPU', rates,
                             prices, l4_frames_per_second, video_hours))
  lines.extend(api_line(price, video_hours) for price in API_PRICES)
  return tuple(lines)


def _l4_rate(cost_inputs: Mapping[str, Any]) -> float:
  rate = cost_inputs.get('l4_frames_per_second', L4_FRAMES_PER_SECOND)
  if not (isinstance(rate, (int, float)) and rate > 0):
    raise ValueError(f'l4_frames_per_second must be positive, not {rate!r}')
  return float(rate)


def render_cost_markdown(results: Dict[str, Any]) -> str:
  """The generated section of docs/cost.md: inputs, table, break-evens."""
  cost_inputs = results['cost_inputs']
  rates = ScanRates.from_cost_inputs(cost_inputs)
  l4 = _l4_rate(cost_inputs)
  lines = cost_lines(rates, l4)
  size = 'x'.join(str(n) for n in rates.input_size) or 'unknown'
  rest = non_inference_video_seconds_per_cpu_second(rates)
  out = [
      f'Generated from `cost_inputs` (model `{rates.model or "unknown"}`, '
      f'input {size}); regenerated by `{REGENERATE}`.',
      '',
      f'- decode + sample: {rates.decode_video_seconds_per_cpu_second:g} '
      f'video-s per CPU-second; whole scan: '
      f'{rates.scan_video_seconds_per_cpu_second:g}; CPU inference: '
      f'{rates.inference_frames_per_cpu_second:g} frames per CPU-second at '
      f'{rates.fps:g} fps; so everything but inference: {rest:.2f} video-s '
      f'per CPU-second',
      f'- L4: {l4:,.0f} frames/s (assumed, see "The L4 rate")',
      f'- Dataflow prices: {DATAFLOW_US_CENTRAL1_BATCH.region}, '
      f'{DATAFLOW_US_CENTRAL1_BATCH.tier}',
      '',
      f'| Option | $ per {VIDEO_HOURS:,.0f} h of video | Basis | '
      f'Throughput and assumptions |',
      '| --- | ---: | --- | --- |',
  ]
  out.extend(f'| {line.option} | ${line.usd:,.2f} | {line.basis} | '
             f'{line.assumptions} |' for line in lines)
  out.append('')
  for shape in (G2_STANDARD_4, G2_STANDARD_8):
    low = gpu_bound_below_frames_per_second(
        shape, rates.decode_video_seconds_per_cpu_second, rates.fps)
    high = gpu_bound_below_frames_per_second(shape, rest, rates.fps)
    out.append(f'- {shape.machine_type} becomes GPU-bound only if the L4 '
               f'scores fewer than {low:,.0f} frames/s (decode only) or '
               f'{high:,.0f} frames/s (all but inference on CPU).')
  return '\n'.join(out) + '\n'


def replace_generated_section(document: str, section: str) -> str:
  """``document`` with the lines between the cost-table markers replaced."""
  return generated_sections.replace_section(document, section, START_MARKER,
                                            END_MARKER)


def main(argv: Optional[Sequence[str]] = None) -> str:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.cost_model')
  parser.add_argument('results', help='results.json with "cost_inputs"')
  parser.add_argument('--doc', default=str(DEFAULT_DOC),
                      help='markdown file whose generated section to rewrite')
  parser.add_argument('--l4-frames-per-second', type=float, default=None,
                      help=f'L4 inference rate (default: cost_inputs\' '
                           f'"l4_frames_per_second", else '
                           f'{L4_FRAMES_PER_SECOND:,.0f})')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  results = json.loads(Path(args.results).read_text(encoding='utf-8'))
  if 'cost_inputs' not in results:
    parser.error(f'{args.results} has no "cost_inputs"')
  if args.l4_frames_per_second is not None:
    results = {**results, 'cost_inputs': {
        **results['cost_inputs'],
        'l4_frames_per_second': args.l4_frames_per_second}}
  section = render_cost_markdown(results)
  generated_sections.rewrite_file(args.doc, section, START_MARKER, END_MARKER)
  print(section, end='')
  return section


if __name__ == '__main__':
  main()
