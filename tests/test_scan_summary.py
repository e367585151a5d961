"""The scan's summary is a small aggregate the job computes
(``summary.ScanTally`` combined by ``SummarizeScan``): it must say what the
outputs say, however Beam split the rows into bundles, and stay small."""
import random

from pipeline.records import FlaggedClip
from pipeline.records import VideoLedgerRow
from pipeline.scan import summary


def _records(scan):
  return ([VideoLedgerRow(**row) for row in scan.videos.to_pylist()] +
          [FlaggedClip(**row) for row in scan.clips.to_pylist()])


def test_the_summary_a_scan_writes_says_what_its_outputs_say(golden_scan):
  written = summary.read_summary(golden_scan.root, golden_scan.scan_id)
  from_outputs = summary.summarize(_records(golden_scan))
  assert written == from_outputs
  assert written.videos == golden_scan.videos.num_rows
  assert written.clips == golden_scan.clips.num_rows
  assert summary.format_summary(written, golden_scan.root,
                                golden_scan.scan_id) == (
      summary.format_summary(from_outputs, golden_scan.root,
                             golden_scan.scan_id))


def _row(template: VideoLedgerRow, i: int, status: str) -> VideoLedgerRow:
  return template._replace(video_id=f'v{i}', video_uri=f'/a/{i:04d}.mp4',
                           status=status,
                           error_kind='not_found' if status == 'failed'
                           else None,
                           coverage=0.5 if status == 'partial' else 1.0)


def test_tallies_merged_in_any_order_list_the_same_few(golden_scan):
  video = VideoLedgerRow(**golden_scan.videos.to_pylist()[0])
  clip = FlaggedClip(**golden_scan.clips.to_pylist()[0])
  rng = random.Random(7)
  records = [_row(video, i, rng.choice(['scanned', 'failed', 'partial']))
             for i in range(300)]
  records += [clip._replace(video_uri=f'/a/{i % 50:04d}.mp4', start_ms=i,
                            peak_score=rng.random()) for i in range(200)]
  whole = summary.summarize(records)
  rng.shuffle(records)
  tallies = [summary.ScanTally() for _ in range(7)]
  for record in records:
    rng.choice(tallies).add(record)
  merged = summary.ScanTally()
  for tally in tallies:
    merged.merge(tally)
  assert merged.result() == whole
  failed = sorted(r.video_uri for r in records
                  if isinstance(r, VideoLedgerRow) and r.status == 'failed')
  assert [v.video_uri for v in whole.failed] == failed[:summary.MAX_LISTED]
  peaks = sorted((r.peak_score for r in records
                  if isinstance(r, FlaggedClip)), reverse=True)
  assert [c.peak_score for c in whole.top_clips] == peaks[:summary.MAX_LISTED]
  assert (whole.videos, whole.clips) == (300, 200)
  # What is written stays a few KB, and reads back the same.
  assert len(whole.to_json()) < 16_000
  assert summary.ScanSummary.from_json(whole.to_json()) == whole
