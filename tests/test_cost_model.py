"""The cost model of docs/cost.md: pure arithmetic, no network, no results
file needed (the sample ``cost_inputs`` below stand in for
benchmarks/results.json)."""
from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest

from benchmarks import cost_model as cm

SAMPLE = {
    'cost_inputs': {
        'decode_video_seconds_per_cpu_second': 12.3,
        'scan_video_seconds_per_cpu_second': 4.5,
        'inference_frames_per_cpu_second': 300.0,
        'fps': 5.0,
        'model': 'demo-first-person-weapon',
        'input_size': [96, 96],
    }
}
RATES = cm.ScanRates.from_cost_inputs(SAMPLE['cost_inputs'])
PRICES = cm.DATAFLOW_US_CENTRAL1_BATCH


def _line(shape: cm.WorkerShape, cpu_rate: float,
          l4: float = cm.L4_FRAMES_PER_SECOND,
          rates: cm.ScanRates = RATES) -> cm.CostLine:
  return cm.dataflow_line(shape, cpu_rate, 'test', rates, PRICES, l4)


def _table_rows(markdown: str) -> list:
  rows = [r for r in markdown.splitlines() if r.startswith('| ')]
  return rows[2:]  # without the header and the --- row


def test_worker_hourly_price_adds_what_dataflow_bills():
  # 4 vCPU, 16 GB, 25 GB SSD PD, 1 L4 at the us-central1 batch prices.
  assert cm.worker_usd_per_hour(cm.G2_STANDARD_4, PRICES) == pytest.approx(
      4 * 0.056 + 16 * 0.003557 + 25 * 0.000298 + 0.672)
  assert cm.worker_usd_per_hour(cm.N2_STANDARD_4, PRICES) == pytest.approx(
      4 * 0.056 + 16 * 0.003557 + 25 * 0.000054)


def test_doubling_throughput_halves_cost():
  decode = RATES.decode_video_seconds_per_cpu_second
  once = _line(cm.G2_STANDARD_4, decode)
  twice = _line(cm.G2_STANDARD_4, 2 * decode)
  assert twice.usd == pytest.approx(once.usd / 2)
  cpu_only = _line(cm.N2_STANDARD_4, RATES.scan_video_seconds_per_cpu_second)
  cpu_only_twice = _line(cm.N2_STANDARD_4,
                         2 * RATES.scan_video_seconds_per_cpu_second)
  assert cpu_only_twice.usd == pytest.approx(cpu_only.usd / 2)


def test_dataflow_cost_is_worker_hours_times_hourly_price():
  line = _line(cm.G2_STANDARD_4, 12.3)
  # 1,000 h of video / (4 vCPU x 12.3 video-s per CPU-s) worker-hours.
  hours = 1_000 / (4 * 12.3)
  assert line.usd == pytest.approx(
      hours * cm.worker_usd_per_hour(cm.G2_STANDARD_4, PRICES))
  assert line.basis.startswith(f'{hours:,.1f} worker-h')


def test_decode_bound_at_the_assumed_l4_rate():
  throughput = cm.worker_throughput(cm.G2_STANDARD_4, 12.3, 3_000.0, 5.0)
  assert throughput.bound == 'CPU'
  assert throughput.cpu_video_seconds_per_second == pytest.approx(49.2)
  assert throughput.gpu_video_seconds_per_second == pytest.approx(600.0)
  assert throughput.video_seconds_per_second == pytest.approx(49.2)


def test_gpu_bound_when_the_l4_is_slow():
  throughput = cm.worker_throughput(cm.G2_STANDARD_4, 12.3, 100.0, 5.0)
  assert throughput.bound == 'GPU'
  assert throughput.video_seconds_per_second == pytest.approx(20.0)
  slow = _line(cm.G2_STANDARD_4, 12.3, l4=100.0)
  assert 'GPU-bound' in slow.basis
  # GPU-bound: faster decoding does not help, a faster GPU does.
  assert _line(cm.G2_STANDARD_4, 24.6, l4=100.0).usd == pytest.approx(slow.usd)
  assert _line(cm.G2_STANDARD_4, 12.3, l4=200.0).usd == pytest.approx(
      slow.usd / 2)


def test_gpu_bound_threshold_is_where_capacities_meet():
  threshold = cm.gpu_bound_below_frames_per_second(cm.G2_STANDARD_4, 12.3,
                                                   5.0)
  assert threshold == pytest.approx(4 * 12.3 * 5.0)
  above = cm.worker_throughput(cm.G2_STANDARD_4, 12.3, threshold * 1.01, 5.0)
  below = cm.worker_throughput(cm.G2_STANDARD_4, 12.3, threshold * 0.99, 5.0)
  assert (above.bound, below.bound) == ('CPU', 'GPU')


def test_cpu_only_worker_has_no_gpu_limit():
  throughput = cm.worker_throughput(cm.N2_STANDARD_4, 4.5, 1.0, 5.0)
  assert math.isinf(throughput.gpu_video_seconds_per_second)
  assert throughput.bound == 'CPU'
  line = _line(cm.N2_STANDARD_4, 4.5)
  assert 'L4' not in line.assumptions


def test_non_inference_rate_removes_cpu_inference_from_the_scan():
  # 1 / (1/4.5 - 5/300) CPU-seconds per video-second.
  assert cm.non_inference_video_seconds_per_cpu_second(RATES) == (
      pytest.approx(1 / (1 / 4.5 - 5 / 300)))
  inconsistent = dataclasses.replace(RATES,
                                     inference_frames_per_cpu_second=20.0)
  with pytest.raises(ValueError, match='inconsistent'):
    cm.non_inference_video_seconds_per_cpu_second(inconsistent)


def test_api_price_per_1000_hours_is_60000_minutes_times_the_price():
  # 60,000 minutes sit in the $0.10 tier of both (VI: up to 100,000 a month).
  for price in cm.API_PRICES:
    assert cm.api_usd(price, 1_000.0) == pytest.approx(60_000 * 0.10)
  assert cm.api_usd(cm.VIDEO_INTELLIGENCE_EXPLICIT, 1_000.0,
                    apply_free_tier=True) == pytest.approx(59_000 * 0.10)
  assert cm.api_usd(cm.REKOGNITION_CONTENT_MODERATION, 1_000.0,
                    apply_free_tier=True) == pytest.approx(6_000.0)


def test_video_intelligence_has_no_list_price_past_100000_minutes():
  assert cm.api_usd(cm.VIDEO_INTELLIGENCE_EXPLICIT,
                    100_000 / 60) == pytest.approx(10_000.0)
  with pytest.raises(ValueError, match='contact sales'):
    cm.api_usd(cm.VIDEO_INTELLIGENCE_EXPLICIT, 2_000.0)


def test_tiered_pricing_is_graduated():
  tiers = (cm.PriceTier(100.0, 1.0), cm.PriceTier(1_000.0, 0.5),
           cm.PriceTier(None, 0.25))
  assert cm.tiered_usd(50.0, tiers) == pytest.approx(50.0)
  assert cm.tiered_usd(150.0, tiers) == pytest.approx(100 + 25)
  assert cm.tiered_usd(2_000.0, tiers) == pytest.approx(100 + 450 + 250)


def test_markdown_has_a_row_per_option_with_its_dollars():
  markdown = cm.render_cost_markdown(SAMPLE)
  lines = cm.cost_lines(RATES)
  rows = _table_rows(markdown)
  assert len(rows) == len(lines) == 7
  for row, line in zip(rows, lines):
    assert row.startswith(f'| {line.option} | ${line.usd:,.2f} |')
  assert '$6,000.00' in markdown
  assert cm.REGENERATE in markdown


def test_markdown_numbers_for_the_sample_inputs():
  by_option = {line.option: line.usd for line in cm.cost_lines(RATES)}
  g2_decode = next(v for k, v in by_option.items()
                   if k.startswith('Dataflow batch, g2-standard-4')
                   and 'decode' in k)
  assert g2_decode == pytest.approx(
      1_000 / 49.2 * cm.worker_usd_per_hour(cm.G2_STANDARD_4, PRICES))
  cpu_only = next(v for k, v in by_option.items() if 'n2-standard-4' in k)
  assert cpu_only == pytest.approx(
      1_000 / 18.0 * cm.worker_usd_per_hour(cm.N2_STANDARD_4, PRICES))


def test_markdown_takes_the_l4_rate_from_cost_inputs():
  slow = {'cost_inputs': {**SAMPLE['cost_inputs'],
                          'l4_frames_per_second': 100.0}}
  markdown = cm.render_cost_markdown(slow)
  assert 'L4: 100 frames/s' in markdown
  assert 'GPU-bound' in markdown
  assert 'GPU-bound' not in ''.join(_table_rows(
      cm.render_cost_markdown(SAMPLE)))


def test_bad_cost_inputs_are_refused():
  missing = {k: v for k, v in SAMPLE['cost_inputs'].items() if k != 'fps'}
  with pytest.raises(KeyError, match='fps'):
    cm.ScanRates.from_cost_inputs(missing)
  with pytest.raises(ValueError, match='decode_video_seconds_per_cpu_second'):
    cm.ScanRates.from_cost_inputs({**SAMPLE['cost_inputs'],
                                   'decode_video_seconds_per_cpu_second': 0})
  with pytest.raises(ValueError, match='l4_frames_per_second'):
    cm.render_cost_markdown({'cost_inputs': {**SAMPLE['cost_inputs'],
                                             'l4_frames_per_second': -1}})


def test_replace_generated_section_keeps_the_rest():
  doc = (f'# Title\n\nbefore\n{cm.START_MARKER}\nold table\n'
         f'{cm.END_MARKER}\nafter\n')
  new = cm.replace_generated_section(doc, 'new table\n')
  assert new == (f'# Title\n\nbefore\n{cm.START_MARKER}\nnew table\n'
                 f'{cm.END_MARKER}\nafter\n')
  assert cm.replace_generated_section(new, 'new table\n') == new
  with pytest.raises(ValueError, match='followed by'):
    cm.replace_generated_section('no markers here', 'x')
  with pytest.raises(ValueError, match='followed by'):
    cm.replace_generated_section(f'{cm.END_MARKER}\n{cm.START_MARKER}\n', 'x')


def test_markers_quoted_in_a_sentence_are_not_the_section():
  doc = (f'The table sits between `{cm.START_MARKER}` and `{cm.END_MARKER}`.'
         f'\n\n{cm.START_MARKER}\nold\n{cm.END_MARKER}\n')
  new = cm.replace_generated_section(doc, 'new\n')
  assert new.startswith(f'The table sits between `{cm.START_MARKER}` and '
                        f'`{cm.END_MARKER}`.\n\n{cm.START_MARKER}\nnew\n')
  assert 'old' not in new


def test_main_prints_and_rewrites_the_doc(tmp_path, capsys):
  results = tmp_path / 'results.json'
  results.write_text(json.dumps({'other': 1, **SAMPLE}), encoding='utf-8')
  doc = tmp_path / 'cost.md'
  doc.write_text(f'intro\n{cm.START_MARKER}\nstale\n{cm.END_MARKER}\nend\n',
                 encoding='utf-8')
  section = cm.main([str(results), '--doc', str(doc)])
  assert capsys.readouterr().out == section
  text = doc.read_text(encoding='utf-8')
  assert 'stale' not in text and text.startswith('intro\n')
  assert text.endswith(f'{cm.END_MARKER}\nend\n')
  assert section in text
  cm.main([str(results), '--doc', str(doc), '--l4-frames-per-second', '50'])
  assert 'L4: 50 frames/s' in doc.read_text(encoding='utf-8')


def test_main_refuses_results_without_cost_inputs(tmp_path):
  results = tmp_path / 'results.json'
  results.write_text('{"decode": {}}', encoding='utf-8')
  with pytest.raises(SystemExit):
    cm.main([str(results), '--doc', str(tmp_path / 'cost.md')])


def test_committed_doc_has_the_generated_table():
  text = cm.DEFAULT_DOC.read_text(encoding='utf-8')
  section = re.search(f'^{re.escape(cm.START_MARKER)}$(.*?)'
                      f'^{re.escape(cm.END_MARKER)}$', text,
                      re.MULTILINE | re.DOTALL).group(1)
  options = [row.split(' | ')[0][2:] for row in _table_rows(section)]
  assert options == [line.option for line in cm.cost_lines(RATES)]
  assert re.search(r'regenerated by `python -m benchmarks\.cost_model '
                   r'benchmarks/results\.json`', section)


def test_dataflow_prices_match_the_pinned_beam_transcription():
  consts = pytest.importorskip(
      'apache_beam.testing.load_tests.dataflow_cost_consts')
  assert PRICES.vcpu_hour == consts.VCPU_PER_HR_BATCH
  assert PRICES.memory_gb_hour == consts.MEM_PER_GB_HR_BATCH
  assert PRICES.pd_standard_gb_hour == consts.PD_PER_GB_HR
  assert PRICES.pd_ssd_gb_hour == consts.PD_SSD_PER_GB_HR
  assert PRICES.l4_gpu_hour == consts.L4_PER_GPU_PER_HOUR


def test_l4_assumption_is_below_a_quarter_of_the_mlperf_figure():
  assert cm.L4_FRAMES_PER_SECOND <= (
      0.25 * cm.MLPERF_V3_0_L4_RESNET50_OFFLINE_SAMPLES_PER_SECOND)
