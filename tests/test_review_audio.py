"""Reviewing audio clips (issue #18): ``--modality``, stats, the timeline
of both modalities, verdicts, extracts with their sound, and the page in
a real Chromium playing audio clips unmuted.

The root is one real scan of videos with real soundtracks by the marker
model and the stand-in audio model together (``tests.fixtures.audio_review``);
the tests assert what it wrote against the planted markers and gunfire."""
from __future__ import annotations

import json
import os
import shutil

import av
import numpy as np
import pytest
from selenium.webdriver.common.by import By

import schemas
from pipeline.cli import extract as extract_cli
from pipeline.cli import review as review_cli
from pipeline.review import extract as clip_extract
from pipeline.review import query as review_query
from pipeline.review import queue as review_queue
from pipeline.review import report as review_report
from pipeline.storage.parquet import read_partition
from tests import browser as browser_driver
from tests.conftest import run_scan
from tests.fixtures import audio_model
from tests.fixtures import audio_review
from tests.test_review_report_browser import chromium  # noqa: F401  pylint: disable=unused-import

REVIEWER = 'ears'
# The audio model's series on a timeline (``review_query.series_name``).
HEARD = f'{audio_model.LABEL} (audio)'


@pytest.fixture(scope='module')
def heard(marker_model_dir, tmp_path_factory) -> audio_review.AudioReviewRoot:
  return audio_review.build_audio_review_root(
      str(tmp_path_factory.mktemp('audio-review')), run_scan,
      marker_model_dir)


@pytest.fixture
def heard_root(heard, tmp_path) -> str:
  """A private copy of the root, for tests that write."""
  root = str(tmp_path / 'results')
  shutil.copytree(heard.root, root)
  return root


def _cli(capsys, *argv):
  code = review_cli.main(list(argv))
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def _ids(table) -> set:
  return set(table.column('clip_id').to_pylist())


def _top_ids(capsys, root, *flags) -> set:
  code, out, err = _cli(capsys, 'top', '--output', root, '--format', 'json',
                        '--limit', '0', *flags)
  assert code == 0, err
  return {c['clip_id'] for c in json.loads(out)}


def _near_gunfire(clip, video) -> bool:
  """Whether an audio clip spans the video's one planted burst of
  gunfire, to ``audio_model.CLIP_TOLERANCE_S`` at either end."""
  [(start_s, end_s)] = video.heard
  tolerance_ms = audio_model.CLIP_TOLERANCE_S * 1000
  return (abs(clip['start_ms'] - start_s * 1000) <= tolerance_ms
          and abs(clip['end_ms'] - end_s * 1000) <= tolerance_ms)


def test_the_scan_heard_the_gunfire_and_saw_the_marker(heard):
  # Gunfire 1-3 s in gunfire.mp4 and 4-6 s in dark_hevc.mkv: one audio
  # clip each, spanning the shots; one visual clip (red marker 6-9.5 s)
  # in gunfire.mp4 only.
  audio = heard.audio_clips.to_pylist()
  assert sorted(os.path.basename(c['video_uri']) for c in audio) == [
      'dark_hevc.mkv', 'gunfire.mp4']
  for clip in audio:
    assert _near_gunfire(clip, heard.videos[clip['video_uri']]), clip
    assert (clip['label'], clip['model_name'], clip['model_version'],
            clip['thumbnail']) == (audio_model.LABEL,
                                   audio_review.AUDIO_MODEL_NAME,
                                   audio_review.AUDIO_MODEL_VERSION, None)
  visual = heard.visual_clips.to_pylist()
  assert [(os.path.basename(c['video_uri']), c['label']) for c in visual] \
      == [('gunfire.mp4', 'red_marker')]
  assert abs(visual[0]['start_ms'] - 6000) <= 1000


def test_top_lists_exactly_the_clips_of_the_modality_asked(heard, capsys):
  audio, visual = _ids(heard.audio_clips), _ids(heard.visual_clips)
  assert audio and visual and not audio & visual
  assert _top_ids(capsys, heard.root, '--modality', 'audio') == audio
  assert _top_ids(capsys, heard.root, '--modality', 'visual') == visual
  assert _top_ids(capsys, heard.root) == audio | visual
  # The table and CSV show the column.
  code, out, _ = _cli(capsys, 'top', '--output', heard.root)
  header, *rows = out.splitlines()
  assert code == 0 and 'modality' in header.split()
  assert sorted(row.split()[3] for row in rows) == ['audio', 'audio',
                                                     'visual']
  code, out, _ = _cli(capsys, 'top', '--output', heard.root, '--format',
                      'csv', '--modality', 'audio')
  assert code == 0
  lines = out.splitlines()
  column = lines[0].split(',').index('modality')
  assert [line.split(',')[column] for line in lines[1:]] == ['audio'] * 2


def test_a_bad_modality_is_a_one_line_usage_error(heard, capsys):
  with pytest.raises(SystemExit) as exit_info:
    review_cli.main(['top', '--output', heard.root, '--modality', 'smell'])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "'smell'" in err
  with pytest.raises(SystemExit) as exit_info:
    extract_cli.main(['--output', heard.root, '--out', 'x', '--modality',
                      'AUDIO'])
  assert exit_info.value.code == 2
  with pytest.raises(review_queue.QueueError):
    review_queue.QueueQuery(modality='smell').check()
  with pytest.raises(review_report.RequestError) as refused:
    review_report.parse_queue_query({'modality': ['smell']})
  assert refused.value.status == 400


def test_files_without_the_modality_column_read_as_visual(heard, heard_root,
                                                          capsys):
  # The scan's visual rows rewritten as scans wrote them before audio,
  # its audio rows in a file of their own that keeps the column.
  for dataset in ('flagged_clips', 'frame_scores'):
    audio_review.split_as_before_audio(heard_root, dataset, heard.scan_id)
  assert _top_ids(capsys, heard_root, '--modality', 'visual') == _ids(
      heard.visual_clips)
  assert _top_ids(capsys, heard_root, '--modality', 'audio') == _ids(
      heard.audio_clips)
  data = review_query.load_review_data(heard_root)
  assert set(data.clips.column('modality').to_pylist()) == {'visual',
                                                            'audio'}
  # Their stored scores still draw (read_partition_rows fills the column).
  model = review_report.build_page_model(data, review_report.ReportRequest(
      heard_root, review_query.ClipFilter()))
  svg = next(v['timeline_svg'] for v in model['videos'].values()
             if v['video_uri'].endswith('gunfire.mp4'))
  assert 'data-label="red_marker" data-samples=' in svg
  assert 'data-modality="visual"' in svg and 'data-modality="audio"' in svg


def test_stats_count_clips_per_modality_and_audio_coverage(heard, capsys):
  code, out, _ = _cli(capsys, 'stats', '--output', heard.root, '--format',
                      'json')
  assert code == 0
  stats = json.loads(out)
  assert {r['modality']: r['clips'] for r in stats['clips_by_modality']} \
      == {'visual': 1, 'audio': 2}
  [audio] = stats['audio_by_status']
  assert (audio['audio_model_name'], audio['audio_status'], audio['videos'],
          audio['audio_coverage']) == (audio_review.AUDIO_MODEL_NAME, 'ok',
                                       2, 1.0)
  versions = {r['model_version']: r for r in stats['by_model_version']}
  assert versions[audio_review.AUDIO_MODEL_VERSION]['clips'] == 2
  assert versions[audio_review.AUDIO_MODEL_VERSION]['videos'] == 2
  code, out, _ = _cli(capsys, 'stats', '--output', heard.root)
  assert 'clips by modality:' in out and 'audio by status:' in out


def test_stats_of_a_root_without_audio_have_no_audio_section(golden_scan,
                                                             capsys):
  code, out, _ = _cli(capsys, 'stats', '--output', golden_scan.root,
                      '--format', 'json')
  stats = json.loads(out)
  assert code == 0 and 'audio_by_status' not in stats
  assert stats['clips_by_modality'] == [dict(
      modality='visual', clips=golden_scan.clips.num_rows,
      videos=len(set(golden_scan.clips.column('video_id').to_pylist())),
      max_peak_score=stats['clips_by_modality'][0]['max_peak_score'])]


def test_video_timeline_text_lists_audio_clips_as_audio(heard, capsys):
  uri = next(u for u in heard.videos if u.endswith('gunfire.mp4'))
  code, out, _ = _cli(capsys, 'video', uri, '--output', heard.root)
  assert code == 0
  lines = out.splitlines()
  assert any(line.startswith('audio    ok  model '
                             f'{audio_review.AUDIO_MODEL_NAME} ')
             for line in lines)
  # 12 s in 60 cells of 0.2 s: the gunfire 1-3 s (to the tolerance at
  # either end), the marker about 6-9.5 s.
  spark = {line.split('|')[0].strip(): line.split('|')[1]
           for line in lines if line.count('|') == 2}
  assert set(spark) == {'red_marker', HEARD}
  [(start_s, end_s)] = heard.videos[uri].heard
  slack = audio_model.CLIP_TOLERANCE_S
  cells = [(i * 0.2, (i + 1) * 0.2, mark)
           for i, mark in enumerate(spark[HEARD])]
  assert len(cells) == 60
  assert {m for a, b, m in cells if b <= start_s - slack
          or a >= end_s + slack} == {'·'}
  assert {m for a, b, m in cells if a >= start_s + slack
          and b <= end_s - slack} == {'█'}
  assert spark['red_marker'][:28] == '·' * 28
  rows = [line.split() for line in lines if line.endswith(
      tuple(_ids(heard.audio_clips) | _ids(heard.visual_clips)))]
  assert sorted((r[2], r[3]) for r in rows) == [(audio_model.LABEL, 'audio'),
                                                ('red_marker', 'visual')]
  code, out, _ = _cli(capsys, 'video', uri, '--output', heard.root,
                      '--format', 'json')
  document = json.loads(out)
  assert sorted(c['modality'] for c in document['clips']) == ['audio',
                                                             'visual']
  assert set(document['sparklines']) == {'red_marker', HEARD}


def test_page_timeline_draws_both_modalities_on_one_axis(heard):
  data = review_query.load_review_data(heard.root)
  model = review_report.build_page_model(data, review_report.ReportRequest(
      heard.root, review_query.ClipFilter()))
  by_uri = {v['video_uri']: v for v in model['videos'].values()}
  uri = next(u for u in heard.videos if u.endswith('gunfire.mp4'))
  svg = by_uri[uri]['timeline_svg']
  # Every window the scan scored: one a hop over the 12 s soundtrack.
  scores = read_partition(heard.root, 'frame_scores', heard.scan_id)
  windows = sum(1 for r in scores.to_pylist() if r['video_uri'] == uri
                and r['modality'] == 'audio')
  assert abs(windows - 12 / audio_model.HOP_S) <= 2, windows
  assert (f'class="tl-curve" data-label="{audio_model.LABEL}" '
          f'data-samples="{windows}" data-modality="audio"') in svg
  for label in ('red_marker', 'green_marker'):
    assert f'data-label="{label}" data-samples="24" ' \
        'data-modality="visual"' in svg
  audio_clip = next(c for c in heard.audio_clips.to_pylist()
                    if c['video_uri'].endswith('gunfire.mp4'))
  assert (f'<g class="tl-clip" data-clip-id="{audio_clip["clip_id"]}" '
          'data-modality="audio">') in svg
  assert svg.count('data-modality="visual"><title>red_marker ') == 1
  assert 'threshold 0.50' in svg and 'audio threshold 0.50' in svg
  assert f'>{HEARD}</text>' in svg
  cards = {c['clip_id']: c for c in model['clips']}
  assert {k for k, c in cards.items() if c['modality'] == 'audio'} == _ids(
      heard.audio_clips)


def test_queue_filters_by_modality(heard):
  data = review_query.load_review_data(heard.root)
  con = review_query.connect(data)
  for modality, expected in (('audio', heard.audio_clips),
                             ('visual', heard.visual_clips)):
    page = review_queue.queue_page(
        con, review_query.ClipFilter(),
        review_report.parse_queue_query({'modality': [modality]}))
    assert {c['clip_id'] for c in page.clips} == _ids(expected)
    assert page.total == expected.num_rows


def test_verdicts_on_audio_clips_count_like_any_other(heard_root, heard,
                                                      capsys):
  clip = heard.audio_clips.to_pylist()[0]
  code, _, err = _cli(capsys, 'verdict', clip['clip_id'], 'violating',
                      '--output', heard_root, '--reviewer', REVIEWER)
  assert code == 0, err
  code, out, _ = _cli(capsys, 'precision', '--output', heard_root,
                      '--format', 'json')
  assert [(r['model_name'], r['reviewed'], r['violating'])
          for r in json.loads(out)] == [(audio_review.AUDIO_MODEL_NAME, 1, 1)]
  data = review_query.load_review_data(heard_root)
  con = review_query.connect(data)
  page = review_queue.queue_page(con, review_query.ClipFilter(),
                                 review_queue.QueueQuery(modality='audio'))
  outcomes = {c['clip_id']: c['outcome'] for c in page.clips}
  assert outcomes[clip['clip_id']] == 'violating'
  app = review_report.ReviewApp(review_report.ReportRequest(
      heard_root, review_query.ClipFilter(), review_report.SERVE, REVIEWER),
      data, str(heard_root) + '-cut', 2.0)
  other = next(c for c in heard.audio_clips.to_pylist() if c is not clip
               and c['clip_id'] != clip['clip_id'])
  verdict, card = app.record_verdict(review_report.parse_verdict(json.dumps(
      {'clip_id': other['clip_id'], 'scan_id': other['scan_id'],
       'verdict': 'not_violating'}).encode()))
  assert verdict['reviewer'] == REVIEWER and card['outcome'] == 'not_violating'


def _audio_in(path: str, start_s: float, end_s: float):
  """The extract's audio codec, and the RMS of its decoded samples inside
  and outside ``[start_s, end_s)`` (extract time)."""
  inside, outside = [], []
  with av.open(path) as container:
    [stream] = container.streams.audio
    codec = stream.codec_context.name
    for frame in container.decode(stream):
      samples = frame.to_ndarray().astype(np.float64)
      t = frame.time + np.arange(frame.samples) / frame.sample_rate
      mask = (t >= start_s) & (t < end_s)
      inside.append(samples[:, mask].ravel())
      outside.append(samples[:, ~mask].ravel())
  rms = lambda parts: float(np.sqrt(np.mean(np.concatenate(parts) ** 2)))  # noqa: E731
  return codec, rms(inside), rms(outside)


@pytest.mark.parametrize('transcode', ['auto', 'always'])
def test_extract_keeps_the_soundtrack_of_audio_clips(heard, tmp_path, capsys,
                                                     transcode):
  out = tmp_path / 'extracts'
  assert extract_cli.main(['--output', heard.root, '--out', str(out),
                           '--modality', 'audio', '--transcode', transcode,
                           '--context-seconds', '1']) == 0
  assert '2 of 2 clips extracted' in capsys.readouterr().out
  for clip in heard.audio_clips.to_pylist():
    extracted = clip_extract.read_sidecar(str(out), clip['clip_id'])
    video = heard.videos[clip['video_uri']]
    # The planted shots, on the extract's time axis.
    [(shots_start, shots_end)] = video.heard
    offset = extracted.source_offset_s
    codec, loud, quiet = _audio_in(extracted.path, shots_start - offset,
                                   shots_end - offset)
    assert loud > 0.2 > 0.05 > quiet, (clip['video_uri'], loud, quiet)
    if transcode == 'always' or video.audio_codec == 'aac':
      assert codec == 'aac'   # browser-playable: AAC, whatever the source
    else:
      assert codec == 'opus'  # stream copy keeps what MP4 carries
    expected = (clip_extract.AUDIO_TRANSCODED
                if codec != video.audio_codec.replace('lib', '')
                else clip_extract.AUDIO_COPIED)
    assert extracted.audio == expected


@pytest.mark.slow
def test_chromium_shows_audio_badges_plays_audio_clips_unmuted_and_draws_both(
    heard_root, heard, chromium, tmp_path):  # pylint: disable=redefined-outer-name
  audio_ids, visual_ids = _ids(heard.audio_clips), _ids(heard.visual_clips)
  uris = {c['clip_id']: c['video_uri'] for c in heard.audio_clips.to_pylist()}
  app = review_report.ReviewApp(review_report.ReportRequest(
      heard_root, review_query.ClipFilter(limit=200), review_report.SERVE,
      REVIEWER), review_query.load_review_data(heard_root),
      str(tmp_path / 'cut'), 2.0)
  with browser_driver.headless_chromium(
      chromium, str(tmp_path / 'profile')) as browser, \
      review_report.ReviewServer(app, port=0) as server:
    browser.get(server.url)
    browser_driver.wait_for(browser, 'return document.body.dataset.ready')
    cards = browser.execute_script("""
        return [...document.querySelectorAll('.clip-card')].map(c => [
          c.dataset.clipId, c.dataset.modality,
          [...c.querySelectorAll('.badge.audio')].map(b => [
            b.textContent, b.getAttribute('aria-label'),
            getComputedStyle(b).backgroundColor])]);""")
    assert {c[0] for c in cards} == audio_ids | visual_ids
    for clip_id, modality, badges in cards:
      if clip_id in audio_ids:
        assert modality == 'audio' and len(badges) == 1, badges
        text, label, colour = badges[0]
        assert 'AUDIO' in text and label.startswith('audio clip')
        assert colour == 'rgb(14, 116, 144)'
      else:
        assert modality == 'visual' and badges == []
    for clip_id in sorted(audio_ids):
      index = next(i for i, c in enumerate(cards) if c[0] == clip_id)
      browser.find_elements(By.CSS_SELECTOR, '.clip-card')[index].click()
      # Played: the media element decodes sound (an HEVC source plays from
      # the H.264 + AAC extract the server cuts).
      served = ('/transcoded/' if uris[clip_id].endswith('.mkv')
                else '/media/')
      state = browser_driver.wait_for(browser, """
          const v = document.getElementById('player');
          if (!v.currentSrc.includes('""" + served + """')) return false;
          if (v.readyState >= 2 && v.paused && !v.dataset.tried) {
            v.dataset.tried = '1'; v.play(); }
          return v.webkitAudioDecodedByteCount > 0 && [
            v.muted, v.dataset.modality, v.webkitAudioDecodedByteCount,
            v.currentSrc];""", timeout_s=60)
      assert state[0] is False and state[1] == 'audio', state
      assert served in state[3]
      browser.execute_script(
          "const v = document.getElementById('player'); v.pause();"
          'delete v.dataset.tried;')
      drawn = browser.execute_script("""
          const box = document.getElementById('timeline');
          return [
            [...box.querySelectorAll('polyline.tl-curve')].map(l => [
              l.dataset.modality, l.dataset.label, l.points.numberOfItems,
              l.getAttribute('stroke-dasharray')]),
            [...box.querySelectorAll('.tl-clip')].map(g => [
              g.dataset.clipId, g.dataset.modality,
              g.classList.contains('current')])];""")
      curves, marks = drawn
      assert ['audio', audio_model.LABEL] in [c[:2] for c in curves]
      assert all((c[3] is not None) == (c[0] == 'audio') for c in curves)
      assert all(c[2] > 1 for c in curves)
      assert [clip_id, 'audio', True] in marks
      # gunfire.mp4 is flagged by both models, on one axis.
      assert {m[1] for m in marks} == (
          {'audio', 'visual'} if uris[clip_id].endswith('gunfire.mp4')
          else {'audio'})
    os.makedirs(os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'test-artifacts'), exist_ok=True)
    browser.save_screenshot(os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'test-artifacts', 'review-audio.png'))
