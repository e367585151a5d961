"""The day of an attack, end to end: a real scan of a generated archive
holding derived copies of one source video (re-encoded, cropped, greyscale,
logo overlay, mirrored, mirrored and re-encoded, embedded in a longer
video) and unrelated videos; a reviewer confirms one clip of the source
(``rescan review verdict``); ``rescan bank import --from-verdicts`` banks
it; ``rescan match`` sweeps every stored hash with the archive's media gone
(no decode is possible); every copy is found, linked to the confirmed clip,
and nothing else; ``rescan review video`` shows a copy as a copy of the
clip.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from typing import Dict, NamedTuple

import numpy as np
import pytest

from model.synthetic_video import MARKER_COLOURS
from model.synthetic_video import write_video
from pipeline.cli import bank as bank_cli
from pipeline.cli import match as match_cli
from pipeline.cli import report as report_cli
from pipeline.cli import review as review_cli
from pipeline.hashes import banks as hash_banks
from pipeline.hashes import match_job
from pipeline.hashes import matching as hm
from pipeline.storage.parquet import read_partition
from selenium.webdriver.common.by import By

from tests import browser
from tests.browser import CHROMIUM
from tests.conftest import run_scan
from tests.test_hash_matching import derive_video
from tests.test_hash_matching import encode_frames
from tests.test_hash_matching import render_textured

pytestmark = pytest.mark.xdist_group('attack_sweep')

SIZE = (320, 240)
FPS = 10.0
SECONDS = 14.0
# The attack: a red marker (what the stand-in model flags) on screen from
# 4 s to 9 s of the source.
ATTACK_S = (4.0, 9.0)


def _with_marker(frame: np.ndarray, t: float) -> np.ndarray:
  """``frame`` with a red marker on 11 % of it while the attack lasts."""
  if ATTACK_S[0] <= t < ATTACK_S[1]:
    frame = frame.copy()
    frame[40:120, 150:260] = MARKER_COLOURS['red_marker']
  return frame


def _frames(seed: int, seconds: float, marker: bool, offset_s: float = 0.0):
  for i in range(int(round(seconds * FPS))):
    t = i / FPS
    frame = render_textured(seed, t + offset_s, *SIZE)
    yield _with_marker(frame, t) if marker else frame


def _greyscale(rgb: np.ndarray) -> np.ndarray:
  luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  return np.repeat(np.clip(luma, 0, 255).astype(np.uint8)[..., None], 3, -1)


def _logo(rgb: np.ndarray) -> np.ndarray:
  """A broadcaster's watermark, top right: 40 % white over every other
  column of a 50x16 box.  (PDQ is fragile to overlays on this footage: an
  opaque 80x28 box moves up to 64 bits, a 42x14 box at 30 % up to 28.)"""
  out = rgb.astype(np.float32)
  box = out[8:24, 262:312]
  box[:, 1::2] = 0.6 * box[:, 1::2] + 0.4 * 255
  return np.clip(out, 0, 255).astype(np.uint8)


def _archive(root: str) -> Dict[str, Dict[str, str]]:
  """The archive's files: the source, its copies, unrelated videos."""
  os.makedirs(root)
  path = lambda name: os.path.join(root, name)
  source = encode_frames(path('source.mp4'), _frames(21, SECONDS, True),
                         'h264', FPS, SIZE)
  copies = {
      'reencoded': derive_video(source, path('reencoded.mp4'),
                                options=(('crf', '40'),)),
      # 1 % of each side: PDQ is not crop-invariant (2 % moves 30-38 bits
      # here, at the 31-bit line).
      'cropped': derive_video(source, path('cropped.mp4'), crop=0.01),
      'greyscale': derive_video(source, path('greyscale.webm'), codec='vp9',
                                effect=_greyscale),
      'logo': derive_video(source, path('logo.mp4'), effect=_logo),
      'mirrored': derive_video(source, path('mirrored.mp4'), mirror=True),
      'mirrored_reencoded': derive_video(
          source, path('mirrored_reencoded.mp4'), size=(256, 192),
          mirror=True, options=(('crf', '36'),)),
  }
  # 6 s of other footage, the whole source, 5 s of other footage.
  embedded = (list(_frames(31, 6.0, False)) +
              list(_frames(21, SECONDS, True)) +
              list(_frames(32, 5.0, False)))
  copies['embedded'] = encode_frames(path('embedded.mp4'), embedded, 'h264',
                                     FPS, SIZE)
  unrelated = {
      # The same marker at the same place and time on other footage.
      'other_with_marker': encode_frames(path('other_with_marker.mp4'),
                                         _frames(41, 12.0, True), 'h264',
                                         FPS, SIZE),
      'other': encode_frames(path('other.webm'), _frames(42, 10.0, False),
                             'vp9', FPS, SIZE),
      'flat_with_marker': write_video(path('flat_with_marker.mp4'), 10.0,
                                      'h264', fps=FPS, size=SIZE, seed=5),
  }
  unrelated['other_mirrored'] = derive_video(
      unrelated['other_with_marker'], path('other_mirrored.mp4'),
      mirror=True)
  return {'source': {'source': source}, 'copies': copies,
          'unrelated': unrelated}


class Attack(NamedTuple):
  root: str
  archive: str
  files: Dict[str, Dict[str, str]]
  ids: Dict[str, str]        # video_uri -> video_id
  clip: dict                 # the source's clip of the attack
  stored_hashes: int


@pytest.fixture(scope='module')
def attack(marker_model_dir, tmp_path_factory) -> Attack:
  """The archive, scanned for real (clips and frame hashes)."""
  base = tmp_path_factory.mktemp('attack')
  archive = str(base / 'archive')
  files = _archive(archive)
  root = str(base / 'out')
  scan = run_scan(root, [os.path.join(archive, '*')], marker_model_dir,
                  'attack')
  ids = {row['video_uri']: row['video_id'] for row in scan.videos.to_pylist()}
  assert len(ids) == sum(len(group) for group in files.values())
  hashes = read_partition(root, 'frame_hashes', 'attack')
  assert None not in hashes.column('pdq_mirror').to_pylist()
  source_id = ids[files['source']['source']]
  clips = [c for c in scan.clips.to_pylist() if c['video_id'] == source_id
           and c['start_ms'] < ATTACK_S[1] * 1000
           and c['end_ms'] > ATTACK_S[0] * 1000]
  assert len(clips) == 1, clips
  return Attack(root, archive, files, ids, clips[0], hashes.num_rows)


def test_banking_needs_a_confirmed_clip(attack, tmp_path, capsys):
  """No clip has the outcome asked for, or the root holds no scan: one
  line on stderr, exit 2, no bank written."""
  bank = str(tmp_path / 'bank')
  for root, verdict, expected in (
      (attack.root, 'not_violating', "has the outcome 'not_violating'"),
      (str(tmp_path), 'violating', 'holds no scan output')):
    capsys.readouterr()
    assert bank_cli.main(['import', '--bank', bank, '--id', 'b', '--label',
                          'x', '--from-verdicts', root, '--verdict',
                          verdict]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
  assert not os.path.exists(bank)


def test_a_confirmed_clip_finds_every_copy_and_nothing_else(
    attack, tmp_path, capsys):
  root, files, ids, clip = attack.root, attack.files, attack.ids, attack.clip
  source_id = ids[files['source']['source']]
  # The reviewer confirms the source's clip of the attack.
  assert review_cli.main(['verdict', clip['clip_id'], 'violating',
                          '--output', root, '--reviewer', 'ana']) == 0

  bank = str(tmp_path / 'bank')
  capsys.readouterr()
  assert bank_cli.main(['import', '--bank', bank, '--id', 'b', '--label',
                        'x', '--from-verdicts', root, '--entry-id',
                        'e']) == 1
  assert 'named by clip id' in capsys.readouterr().err
  assert bank_cli.main(['import', '--bank', bank, '--id', 'attack',
                        '--label', 'attack', '--from-verdicts', root]) == 0
  assert 'imported 1 entries' in capsys.readouterr().out
  meta = json.loads((tmp_path / 'bank' / 'bank.json').read_text())
  assert meta['sources'][-1]['clip_ids'] == [clip['clip_id']]
  # The entry holds the clip's hashes, not the whole video's.
  entry = hash_banks.load_bank(bank).entries[0]
  assert entry.entry_id == entry.source_clip_id == clip['clip_id']
  times = entry.hashes.ts_ms
  assert clip['start_ms'] <= times.min() and times.max() <= clip['end_ms']
  assert 3 <= len(times) < SECONDS

  # The sweep: the media are gone, so nothing can be decoded.
  shutil.move(attack.archive, str(tmp_path / 'archive-gone'))
  started = time.perf_counter()
  assert match_cli.main(['--hashes', root, '--bank', bank, '--output', root,
                         '--scan-id', 'sweep']) == 0
  sweep_s = time.perf_counter() - started
  matches = read_partition(root, 'hash_matches', 'sweep').to_pylist()
  found = {os.path.basename(m['video_uri']): m for m in matches}
  expected = {os.path.basename(p) for p in files['copies'].values()} | {
      'source.mp4'}
  assert set(found) == expected, sorted(found)
  assert len(matches) == len(expected)
  for name, match in found.items():
    assert match['source_clip_id'] == clip['clip_id'], name
    assert match['entry_id'] == clip['clip_id'] and match['bank'] == 'attack'
    assert match['compared_match_pct'] >= 80.0, (name, match)
    assert match['mirrored'] == name.startswith('mirrored'), name
  # Embedded: found inside the source's part of the longer video (6 s
  # of other footage first), though most of the video is something else.
  embedded = found['embedded.mp4']
  assert embedded['query_match_pct'] < 80.0
  assert 6000 <= embedded['first_match_ms']
  assert embedded['last_match_ms'] < 6000 + SECONDS * 1000
  with capsys.disabled():
    print(f'\nsweep of {attack.stored_hashes} stored hashes against a '
          f'{len(times)}-hash clip: {sweep_s:.1f} s')

  # The copies come back to the reviewers as copies of the clip.
  capsys.readouterr()
  copy_id = ids[files['copies']['mirrored_reencoded']]
  assert review_cli.main(['video', copy_id, '--output', root]) == 0
  out = capsys.readouterr().out
  assert (f"copy of clip {clip['clip_id']} (mirrored): "
          f"{files['source']['source']}") in out
  assert f'see: rescan review video {source_id}' in out

  # And the list of every copy of the clip.
  assert review_cli.main(['matches', '--output', root, '--clip',
                          clip['clip_id'], '--format', 'json']) == 0
  listed = json.loads(capsys.readouterr().out)
  assert sorted(os.path.basename(m['video_uri']) for m in listed) == \
      sorted(expected)
  assert {m['source_video_id'] for m in listed} == {source_id}
  assert review_cli.main(['matches', '--output', root, '--clip',
                          'no-such-clip']) == 2

  # The review page: each match says "copy of clip X", a link that opens
  # the confirmed clip.
  page = tmp_path / 'page' / 'report.html'
  page.parent.mkdir()
  assert report_cli.main(['--output', root, '--html', str(page)]) == 0
  with browser.headless_chromium(CHROMIUM, str(tmp_path / 'profile')) as web:
    web.get(page.as_uri())
    browser.wait_for(web, 'return document.body.dataset.ready')
    links = web.find_elements(By.CSS_SELECTOR, '#hash-table a.copy-of')
    assert len(links) == len(expected)
    assert {link.text for link in links} == {
        f"copy of clip {clip['clip_id']}",
        f"copy of clip {clip['clip_id']} (mirrored)"}
    links[-1].click()
    assert browser.wait_for(
        web, "return document.querySelector('.clip-card.selected')"
        '?.dataset.clipId') == clip['clip_id']


def test_rule_flags_override_a_clip_banks_rules(tmp_path):
  """A bank of clips matches by its own rules unless a flag names one."""
  bank = str(tmp_path / 'bank')
  entry = hm.BankEntry('c', 'x', hm.frame_hashes([bytes(32)], [100], [0]),
                       source_clip_id='c')
  hash_banks.save_bank(bank, hash_banks.Bank(
      'b', 'x', 'now', (), (entry,), (), hash_banks.CLIP_MATCH_RULES))
  own = match_job.parse_match_args(['--hashes', 'r', '--bank', bank,
                                    '--output', 'r'])
  assert own.rule_flags == ()
  assert hash_banks.bank_rules(bank, own.rules, own.rule_flags) == \
      hash_banks.CLIP_MATCH_RULES
  flagged = match_job.parse_match_args(['--hashes', 'r', '--bank', bank,
                                        '--output', 'r',
                                        '--query-match-pct', '90'])
  assert hash_banks.bank_rules(bank, flagged.rules, flagged.rule_flags) == \
      hash_banks.CLIP_MATCH_RULES._replace(query_match_pct=90.0)
  assert hash_banks.load_bank(bank).entries[0].source_clip_id == 'c'
