"""The review page over an output root (the library of ``rescan report``).

The page shows a grid of the selected clips (thumbnail, label, scores,
time, video), a player that opens at the clip's time range, each video's
score timeline (inline SVG, threshold marked), hash matches beside the
classifier's clips, and verdict buttons driven by the keyboard.

Served (``rescan report --serve``), it is a small local web app on
Python's ``http.server``: it serves sources and extracts from any Beam
filesystem with HTTP Range support (so the player can seek), cuts a
browser-playable H.264 extract on demand when the browser cannot play a
source (HEVC, MPEG-4 in AVI), and appends each verdict as a new Parquet
file under ``ROOT/reviews/``.  The static export (``--html``) is the same
page, read-only, playing local sources and extracts straight from disk.

The server shows the most sensitive content a platform holds and writes
verdicts, so every request must prove it comes from the page the operator
opened (``RequestPolicy``):

- a per-session token (``secrets.token_urlsafe``), printed in the URL, is
  required on every request: as ``?token=`` on page and media GETs (a
  ``<video>`` cannot send headers), and as the ``X-Review-Token`` header on
  the API, compared in constant time.  There is no cookie on purpose:
  browsers send cookies to every port of a host, so a page on another
  local port would carry it;
- ``Host`` must name the served host and port (DNS rebinding), ``Origin``,
  when sent, must be the server's own origin, and ``Sec-Fetch-Site`` must
  not be ``cross-site`` or ``same-site``;
- writes are ``POST`` with ``Content-Type: application/json`` (what a form
  or a ``no-cors`` fetch cannot send), a ``Content-Length`` and a body of
  at most ``MAX_REQUEST_BYTES``; every malformed request gets a 4xx with a
  JSON ``error`` and the server goes on;
- media are named by ``(scan_id, video_id)`` or ``(scan_id, clip_id)``,
  never by ``video_id`` alone, and looked up in the scan's rows, so a URL
  cannot name any other file;
- a source is re-checked each time it is served or cut
  (``open_pinned_source``): it is resolved once at start by
  ``storage.identify`` (the scan's own resolution) and reopened by that
  canonical path through ``storage.open_local`` (no symlink along it, the
  same inode and size), and what was opened must have the ctime found at
  start and the size and modification time the ledger recorded; otherwise
  409 (changed) or 410 (gone) and nothing is served.
"""
from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import datetime
import hashlib
import hmac
import html
import http
import http.server
import ipaddress
import json
import mimetypes
import os
import pathlib
import re
import secrets
import socket
import stat
import sys
import threading
import urllib.parse
from typing import Any
from typing import BinaryIO
from typing import Dict
from typing import FrozenSet
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Set
from typing import Tuple
from typing import Union

import pyarrow as pa

import schemas
from pipeline.media import errors as media_errors
from pipeline.review import extract as clip_extract
from pipeline.review import frame_scores as stored_scores
from pipeline.review import page as review_page
from pipeline.review import query as review_query
from pipeline.review import queue as review_queue
from pipeline.scan import ledger as scan_ledger
from pipeline.storage import files as storage
from schemas import review_tables

STATIC, SERVE = 'static', 'serve'
DEFAULT_PORT = 8765
DEFAULT_LIMIT = 200
# Clips per page the page offers (the served page asks the server for one
# page at a time).
PAGE_SIZES = (25, 50, 100, 200)
MAX_HASH_MATCH_ROWS = 500
MAX_REQUEST_BYTES = 64 * 1024
MAX_NOTE_CHARS = 2000
MAX_ID_CHARS = 512
SEND_CHUNK_BYTES = 256 * 1024
# A connection that sends nothing for this long is dropped (slow clients
# cannot hold the server's threads).
REQUEST_TIMEOUT_S = 60
TOKEN_BYTES = 32
TOKEN_HEADER = 'X-Review-Token'
TOKEN_PARAM = 'token'
# The ledger stores times to the microsecond.
MTIME_TOLERANCE_S = 2e-6
LOOPBACK_NAMES = ('localhost', '127.0.0.1', '[::1]')
# Names of files in an extract folder must be plain (clip ids are hex).
SAFE_FILE_NAME = re.compile(r'[A-Za-z0-9_-]{1,128}')
VERDICT_KEYS = {review_tables.VIOLATING: ('1', 'violating'),
                review_tables.NOT_VIOLATING: ('2', 'not violating'),
                review_tables.UNSURE: ('3', 'unsure')}
# Video codecs (as the ledger names them) a browser plays, by file suffix.
BROWSER_PLAYABLE = {
    '.mp4': {'h264', 'av1', 'vp9'},
    '.m4v': {'h264'},
    '.mov': {'h264'},
    '.webm': {'vp8', 'vp9', 'av1'},
}
CODEC_NAMES = {'libdav1d': 'av1', 'libaom-av1': 'av1', 'libvpx-vp9': 'vp9',
               'libvpx': 'vp8'}
# Label colours; red is kept for the threshold line.
LABEL_COLOURS = ('#2f6feb', '#d97706', '#7c3aed', '#0f766e', '#db2777',
                 '#65a30d', '#0891b2', '#5b6270')
MEDIA_TYPES = {'.mkv': 'video/x-matroska', '.webm': 'video/webm',
               '.avi': 'video/x-msvideo', '.mp4': 'video/mp4'}
# Sent with every response: no framing (the page acts on key presses), no
# referrer (URLs carry the token), no sniffing, nothing cached.
SECURITY_HEADERS = (
    ('Cache-Control', 'no-store'),
    ('X-Content-Type-Options', 'nosniff'),
    ('X-Frame-Options', 'DENY'),
    ('Referrer-Policy', 'no-referrer'),
    ('Cross-Origin-Resource-Policy', 'same-origin'),
)
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src data:; media-src 'self'; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class RequestError(Exception):
  """A request the server refuses: its HTTP status and a one-line reason
  (sent as ``{"error": ...}``)."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status
    self.message = message


def thumbnail_data_uri(jpeg: Optional[bytes]) -> Optional[str]:
  """The clip's JPEG thumbnail as a ``data:`` URI; ``None`` when the scan
  made none (scans from before thumbnails)."""
  if not jpeg:
    return None
  return 'data:image/jpeg;base64,' + base64.b64encode(jpeg).decode('ascii')


def browser_plays(uri: str, codec: Optional[str]) -> bool:
  """Whether a browser is expected to play this source as it is."""
  suffix = os.path.splitext(uri.lower())[1]
  name = CODEC_NAMES.get(codec or '', codec or '')
  return name in BROWSER_PLAYABLE.get(suffix, ())


def label_colours(labels: Sequence[str]) -> Dict[str, str]:
  return {label: LABEL_COLOURS[i % len(LABEL_COLOURS)]
          for i, label in enumerate(sorted(set(labels)))}


def curve_envelope(points: Sequence[Tuple[int, float]], duration_ms: float,
                   columns: int) -> List[Tuple[int, float]]:
  """``points`` (time order) thinned to at most two per plot column: the
  lowest and highest score of each, in time order, so that a one-sample
  peak (a near-miss) survives on an hour-long video."""
  buckets: Dict[int, List[Tuple[int, float]]] = {}
  for ms, score in points:
    column = min(int(columns * ms / max(duration_ms, 1)), columns - 1)
    low_high = buckets.setdefault(column, [(ms, score), (ms, score)])
    if score < low_high[0][1]:
      low_high[0] = (ms, score)
    if score > low_high[1][1]:
      low_high[1] = (ms, score)
  kept: List[Tuple[int, float]] = []
  for column in sorted(buckets):
    kept.extend(sorted(set(buckets[column])))
  return kept


# How the audio model's curves, clips and threshold differ on a timeline
# (its labels keep their colours): dashed.
AUDIO_DASH = '5 2'
AUDIO_THRESHOLD_DASH = '2 2'


def timeline_svg(clips: Sequence[Dict[str, Any]], duration_ms: int,
                 threshold: Optional[float], colours: Dict[str, str],
                 width: int = 540, height: int = 130,
                 curves: Optional[Dict[Tuple[str, str],
                                       Sequence[Tuple[int, float]]]] = None,
                 audio_threshold: Optional[float] = None) -> str:
  """A video's clips of both modalities on one time axis: a bar per clip
  as tall as its mean score, a stem at its peak, and the visual model's
  ``threshold`` as a dashed line; with ``curves`` (``(modality, label)``
  -> the stored per-sample ``(ts_ms, score)``, from ``frame_scores``),
  each label's real score curve over them.  The audio model's curves,
  clips (``data-modality="audio"``) and ``audio_threshold`` are dashed,
  and its labels are named ``label (audio)`` in the legend."""
  left, right, top, bottom = 34, 10, 10, 34
  plot_w, plot_h = width - left - right, height - top - bottom
  curves = curves or {}
  duration = max(duration_ms, max((c['end_ms'] for c in clips), default=0),
                 max((p[-1][0] for p in curves.values() if p), default=0), 1)

  def x(ms: float) -> float:
    return round(left + plot_w * ms / duration, 1)

  def y(value: float) -> float:
    return round(top + plot_h * (1.0 - min(max(value, 0.0), 1.0)), 1)

  def audio(modality: Optional[str]) -> bool:
    return modality == schemas.MODALITY_AUDIO

  def dash(modality: Optional[str]) -> str:
    return f' stroke-dasharray="{AUDIO_DASH}"' if audio(modality) else ''

  esc = lambda text: html.escape(str(text), quote=True)  # noqa: E731
  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
           f'{height}" role="img" aria-label="score timeline">',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
           'fill="#f3f4f7"/>']
  for score in (0.0, 0.5, 1.0):
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(score)}" '
                 f'y2="{y(score)}" stroke="#d9dde5"/><text x="{left - 4}" '
                 f'y="{y(score) + 4}" font-size="10" text-anchor="end" '
                 f'fill="#667085">{score:.1f}</text>')
  for ms, anchor in ((0, 'start'), (duration / 2, 'middle'),
                     (duration, 'end')):
    parts.append(f'<text x="{x(ms)}" y="{top + plot_h + 13}" font-size="10" '
                 f'text-anchor="{anchor}" fill="#667085">{ms / 1000:.1f}s'
                 '</text>')
  # Visual curves first, the audio model's over them.
  for (modality, label), points in sorted(
      curves.items(), key=lambda item: (audio(item[0][0]), item[0][1])):
    name = review_query.series_name(dict(label=label, modality=modality))
    drawn = ' '.join(f'{x(ms)},{y(score)}' for ms, score in
                     curve_envelope(points, duration, plot_w))
    parts.append(
        f'<polyline class="tl-curve" data-label="{esc(label)}" '
        f'data-samples="{len(points)}" data-modality="{esc(modality)}" '
        f'points="{drawn}" fill="none" '
        f'stroke="{colours.get(label, LABEL_COLOURS[-1])}"{dash(modality)} '
        'stroke-width="1" stroke-linejoin="round"><title>'
        f'{esc(name)}: {len(points)} '
        f'{"window" if audio(modality) else "sampled"} scores'
        '</title></polyline>')
  for clip in sorted(clips, key=lambda c: c['start_ms']):
    colour = colours.get(clip['label'], LABEL_COLOURS[-1])
    modality = clip.get('modality') or schemas.MODALITY_VISUAL
    x0, x1 = x(clip['start_ms']), x(clip['end_ms'])
    tip = (f"{review_query.series_name(clip)} "
           f"{clip['start_ms'] / 1000:.1f}s–"
           f"{clip['end_ms'] / 1000:.1f}s peak {clip['peak_score']:.3f} "
           f"mean {clip['mean_score']:.3f}")
    outline = (f' stroke="{colour}" stroke-width="1"{dash(modality)}'
               if audio(modality) else '')
    parts.append(
        f'<g class="tl-clip" data-clip-id="{esc(clip["clip_id"])}" '
        f'data-modality="{esc(modality)}">'
        f'<title>{esc(tip)}</title>'
        f'<rect x="{x0}" y="{y(clip["mean_score"])}" '
        f'width="{max(x1 - x0, 2)}" '
        f'height="{round(y(0) - y(clip["mean_score"]), 1)}" '
        f'fill="{colour}" fill-opacity="{0.2 if audio(modality) else 0.35}"'
        f'{outline}/>'
        f'<line x1="{x(clip["peak_ms"])}" x2="{x(clip["peak_ms"])}" '
        f'y1="{y(0)}" y2="{y(clip["peak_score"])}" stroke="{colour}" '
        f'stroke-width="1.5"{dash(modality)}/>'
        f'<circle cx="{x(clip["peak_ms"])}" cy="{y(clip["peak_score"])}" '
        f'r="3" fill="{"#fff" if audio(modality) else colour}" '
        f'stroke="{colour}"/></g>')
  for value, modality, anchor, at in (
      (threshold, schemas.MODALITY_VISUAL, 'end', left + plot_w),
      (audio_threshold, schemas.MODALITY_AUDIO, 'start', left)):
    if value is None:
      continue
    name = 'audio threshold' if audio(modality) else 'threshold'
    css = 'threshold audio' if audio(modality) else 'threshold'
    pattern = AUDIO_THRESHOLD_DASH if audio(modality) else '5 3'
    parts.append(f'<line class="{css}" data-modality="{modality}" '
                 f'x1="{left}" x2="{left + plot_w}" '
                 f'y1="{y(value)}" y2="{y(value)}" stroke="#c4302b" '
                 f'stroke-dasharray="{pattern}"/>'
                 f'<text x="{at}" y="{y(value) - 3}" '
                 f'font-size="10" text-anchor="{anchor}" fill="#c4302b">'
                 f'{name} {value:.2f}</text>')
  legend_x = left
  series = {(c.get('modality') or schemas.MODALITY_VISUAL, c['label'])
            for c in clips} | set(curves)
  for modality, label in sorted(series,
                                key=lambda ml: (audio(ml[0]), ml[1])):
    name = review_query.series_name(dict(label=label, modality=modality))
    colour = colours.get(label, LABEL_COLOURS[-1])
    swatch = (f'<line x1="{legend_x}" x2="{legend_x + 9}" '
              f'y1="{height - 6}" y2="{height - 6}" stroke="{colour}" '
              f'stroke-width="2"{dash(modality)}/>' if audio(modality) else
              f'<rect x="{legend_x}" y="{height - 11}" width="9" '
              f'height="9" fill="{colour}"/>')
    parts.append(f'<g class="tl-legend" data-modality="{esc(modality)}">'
                 f'{swatch}<text x="{legend_x + 12}" y="{height - 3}" '
                 f'font-size="10" fill="#1d2330">{esc(name)}</text></g>')
    legend_x += 20 + 6 * len(name)
  parts.append('</svg>')
  return ''.join(parts)


def _jsonable(row: Dict[str, Any]) -> Dict[str, Any]:
  return {k: (v.isoformat() if isinstance(v, datetime.datetime) else v)
          for k, v in row.items() if not isinstance(v, bytes)}


def video_key(video_id: str, scan_id: str) -> str:
  return f'{video_id}|{scan_id}'


def _local_url(path: str, html_dir: Optional[str]) -> str:
  """A link from the static page to a local file: relative when the page
  is saved beside it, else a ``file:`` URI."""
  absolute = os.path.abspath(path)
  if html_dir:
    return urllib.parse.quote(os.path.relpath(absolute, html_dir))
  return pathlib.Path(absolute).as_uri()


def _segment(text: str) -> str:
  """One path segment of a URL: every ``/``, ``%`` and ``?`` escaped, so a
  video id with any characters names itself and nothing else."""
  return urllib.parse.quote(text, safe='')


def with_token(path: str, token: Optional[str]) -> str:
  return f'{path}?{TOKEN_PARAM}={_segment(token)}' if token else path


def source_path(scan_id: str, video_id: str) -> str:
  """The URL path of a scan's source video: by scan and video, because two
  scans may give one ``video_id`` to different files."""
  return f'/media/{_segment(scan_id)}/{_segment(video_id)}'


def extract_path(scan_id: str, clip_id: str) -> str:
  return f'/extracts/{_segment(scan_id)}/{_segment(clip_id)}.mp4'


def extract_matches(extract: clip_extract.ExtractedClip,
                    clip: Dict[str, Any]) -> bool:
  """Whether an extract in ``--extract-dir`` was cut from this clip's own
  video and times (extracts are named by ``clip_id`` only, and two scans
  may share one)."""
  return (extract.video_uri == clip['video_uri']
          and extract.clip_start_ms == clip['start_ms']
          and extract.clip_end_ms == clip['end_ms'])


def read_matching_extract(extract_dir: Optional[str], clip: Dict[str, Any]
                          ) -> Optional[clip_extract.ExtractedClip]:
  """The extract of ``clip`` in ``extract_dir``, if there is one cut from
  it; a clip id that is no plain file name never names a file."""
  if not extract_dir or not SAFE_FILE_NAME.fullmatch(clip['clip_id']):
    return None
  try:
    extract = clip_extract.read_sidecar(extract_dir, clip['clip_id'])
  except (ValueError, TypeError, OSError):
    return None  # a damaged sidecar: play the source instead
  return extract if extract is not None and extract_matches(
      extract, clip) else None


def player_for(clip: Dict[str, Any], codec: Optional[str],
               extract: Optional[clip_extract.ExtractedClip], mode: str,
               html_dir: Optional[str] = None,
               token: Optional[str] = None) -> Dict[str, Any]:
  """Where the page plays a clip from, and which time range of it: an
  extract a browser plays, else the source when a browser plays it, else
  (served) an H.264 extract cut on demand.  A stream-copied HEVC extract
  (``rescan extract`` copies HEVC) is no extract a browser plays."""
  source_range = (clip['start_ms'] / 1000, clip['end_ms'] / 1000)
  if extract is not None and not browser_plays(extract.path,
                                               extract.output_codec):
    extract = None
  if extract is not None:
    start_s, end_s = extract.clip_range_in_extract_s()
    if mode == SERVE:
      return dict(kind='extract', src=with_token(
          extract_path(clip['scan_id'], clip['clip_id']), token),
                  start_s=start_s, end_s=end_s)
    if not storage.has_scheme(extract.path):
      return dict(kind='extract', src=_local_url(extract.path, html_dir),
                  start_s=start_s, end_s=end_s)
  playable = browser_plays(clip['video_uri'], codec)
  if mode == SERVE:
    if not playable:
      return dict(kind='on_demand')
    return dict(kind='source', src=with_token(
        source_path(clip['scan_id'], clip['video_id']), token),
                start_s=source_range[0], end_s=source_range[1])
  if playable and not storage.has_scheme(clip['video_uri']):
    return dict(kind='source', src=_local_url(clip['video_uri'], None),
                start_s=source_range[0], end_s=source_range[1])
  return dict(kind='none', note='no browser-playable copy here: run '
              '"rescan extract --transcode always" and pass --extract-dir, '
              'or open the page with --serve')


@dataclasses.dataclass(frozen=True)
class ReportRequest:
  """What to put on the page and how it will be opened."""
  root: str
  clip_filter: review_query.ClipFilter
  mode: str = STATIC
  reviewer: str = ''
  extract_dir: Optional[str] = None
  html_dir: Optional[str] = None


def _threshold_of(clips: Sequence[Dict[str, Any]],
                  modality: str) -> Optional[float]:
  """The threshold of the model of ``modality`` that flagged ``clips``
  (each model has its own); ``None`` when it flagged none."""
  return next((c['threshold'] for c in clips
               if (c.get('modality') or schemas.MODALITY_VISUAL) == modality),
              None)


def page_videos(con, data: review_query.ReviewData, root: str,
                keys: Set[Tuple[str, str]],
                colours: Dict[str, str]) -> Dict[str, Dict[str, Any]]:
  """The page's part of each ``(video_id, scan_id)`` in ``keys``: its
  ledger facts (a rethreshold partition's clips find their source scan's
  row, ``ledger_by_clip_scan``), hash matches and score timeline (all its
  clips, and each label's stored per-sample curve when the scan kept
  ``frame_scores``)."""
  ids = sorted({video_id for video_id, _ in keys})
  clip_rows = review_queue.clips_of_videos(con, ids)
  ledger = {key: row for key, row in review_query.ledger_by_clip_scan(
      data, ['codec', 'duration_ms']).items() if key in keys}
  curves = stored_scores.score_curves(root, data, keys)
  clips_by_video: Dict[Tuple[str, str], List[Dict]] = (
      collections.defaultdict(list))
  for clip in clip_rows:
    if (clip['video_id'], clip['scan_id']) in keys:
      clips_by_video[(clip['video_id'], clip['scan_id'])].append(clip)
  matches_by_video: Dict[Tuple[str, str], List[Dict]] = (
      collections.defaultdict(list))
  for match in review_query.top_hash_matches(con, ids):
    matches_by_video[(match['video_id'], match['scan_id'])].append(
        _jsonable(match))
  videos = {}
  for (video_id, scan_id), video_clips in clips_by_video.items():
    row = ledger.get((video_id, scan_id), {})
    videos[video_key(video_id, scan_id)] = dict(
        video_uri=video_clips[0]['video_uri'], codec=row.get('codec'),
        duration_ms=row.get('duration_ms'),
        hash_matches=matches_by_video.get((video_id, scan_id), []),
        timeline_svg=timeline_svg(
            video_clips, row.get('duration_ms') or 0,
            _threshold_of(video_clips, schemas.MODALITY_VISUAL), colours,
            curves=curves.get((video_id, scan_id)),
            audio_threshold=_threshold_of(video_clips,
                                          schemas.MODALITY_AUDIO)))
  return videos


def page_clips(con, data: review_query.ReviewData,
               clips: Sequence[Dict[str, Any]], request: ReportRequest,
               colours: Dict[str, str], token: Optional[str] = None
               ) -> Tuple[List[Dict[str, Any]], Dict[str, Dict[str, Any]]]:
  """The cards of ``clips`` (rows with their outcome and ``history``,
  ``queue.with_history``) and their videos (``page_videos``): thumbnails
  as data URIs, where each plays from, in JSON-ready form."""
  videos = page_videos(con, data, request.root,
                       {(c['video_id'], c['scan_id']) for c in clips},
                       colours)
  cards = []
  for clip in clips:
    key = video_key(clip['video_id'], clip['scan_id'])
    extract = read_matching_extract(request.extract_dir, clip)
    cards.append(dict(
        _jsonable(clip), thumbnail=thumbnail_data_uri(clip.get('thumbnail')),
        history=[_jsonable(h) for h in clip.get('history', [])],
        video_key=key,
        player=player_for(clip, videos.get(key, {}).get('codec'), extract,
                          request.mode, request.html_dir, token)))
  return cards, videos


def build_page_model(data: review_query.ReviewData, request: ReportRequest,
                     token: Optional[str] = None) -> Dict[str, Any]:
  """Everything the page shows, as JSON-ready data.  Served (``SERVE``),
  the page asks for its clips a page at a time (``ReviewApp.queue``), and
  ``token`` goes into its API calls; the static export embeds the clips
  ``request.clip_filter`` selects (its limit applies: ``total_clips`` is
  how many matched) and filters, sorts and pages them in the browser."""
  con = review_query.connect(data)
  labels = review_queue.labels(con)
  match_videos = (review_queue.video_ids(con, request.clip_filter)
                  if request.clip_filter.videos else None)
  matches = review_query.top_hash_matches(con, match_videos,
                                          MAX_HASH_MATCH_ROWS)
  model = dict(
      mode=request.mode, root=request.root, reviewer=request.reviewer,
      generated_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
      labels=labels, hash_matches=[_jsonable(m) for m in matches],
      hash_matches_total=review_queue.count_hash_matches(con, match_videos),
      verdict_choices=[dict(value=v, key=key, title=title)
                       for v, (key, title) in VERDICT_KEYS.items()],
      outcome_choices=list(review_queue.OUTCOME_CHOICES),
      sorts={sort: review_queue.sort_keys(sort) for sort in review_queue.SORTS},
      page_size=review_queue.DEFAULT_PAGE_SIZE,
      page_sizes=list(PAGE_SIZES), clips=[], videos={})
  if request.mode == SERVE:
    if token:
      model['token'] = token
    return model
  clips = review_query.top_clips(con, request.clip_filter,
                                 with_thumbnails=True)
  review_queue.with_history(con, clips)
  model['clips'], model['videos'] = page_clips(
      con, data, clips, request, label_colours(labels))
  model['total_clips'] = review_query.count_clips(con, request.clip_filter)
  return model


def page_title(root: str) -> str:
  return f'Review · {root}'


def render_page(model: Dict[str, Any], title: str) -> str:
  """The self-contained review page (no network, no external assets)."""
  data = json.dumps(model, ensure_ascii=False).replace('<', '\\u003c')
  return (review_page.PAGE_TEMPLATE
          .replace('__TITLE__', html.escape(title))
          .replace('__REVIEW_DATA__', data))


# --- Who may talk to the server -------------------------------------------


def new_token() -> str:
  return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(expected: str, given: Optional[str]) -> bool:
  """Constant-time comparison (bytes, so non-ASCII input is no error)."""
  if given is None:
    return False
  return hmac.compare_digest(expected.encode('utf-8'),
                             given.encode('utf-8', 'surrogateescape'))


def _bare(host: str) -> str:
  return host[1:-1] if host.startswith('[') and host.endswith(']') else host


def _ip(host: str
        ) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
  try:
    return ipaddress.ip_address(_bare(host))
  except ValueError:
    return None


def is_loopback(host: str) -> bool:
  """Whether a bind address or name reaches this machine only: a loopback
  address, ``localhost``, or a name that resolves to loopback only."""
  name = _bare(host).lower().rstrip('.')
  if name == 'localhost':
    return True
  address = _ip(name)
  if address is not None:
    return address.is_loopback
  try:
    infos = socket.getaddrinfo(name, None)
  except (OSError, UnicodeError):
    return False
  return bool(infos) and all(
      ipaddress.ip_address(info[4][0].split('%')[0]).is_loopback
      for info in infos)


def is_wildcard(host: str) -> bool:
  address = _ip(host)
  return address is not None and address.is_unspecified


def url_host(host: str) -> str:
  """A host as it appears in a URL (IPv6 addresses in brackets)."""
  address = _ip(host)
  if address is not None and address.version == 6:
    return f'[{address}]'
  return host.lower()


def split_host_header(value: str) -> Optional[Tuple[str, Optional[int]]]:
  """``Host`` as ``(host, port)``; ``None`` when it is not one."""
  match = re.fullmatch(r'(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?',
                       value.strip())
  if not match:
    return None
  port = int(match.group(2)) if match.group(2) else None
  return match.group(1).lower(), port


@dataclasses.dataclass(frozen=True)
class RequestPolicy:
  """What every request must show: the session token and a ``Host`` (and
  ``Origin``) naming this server."""
  token: str
  port: int
  hosts: FrozenSet[str]      # accepted host names, as in a URL
  any_ip_literal: bool = False  # a wildcard bind: any address of this machine

  def host_allowed(self, header: Optional[str]) -> bool:
    """``Host`` names this server.  An attacker's DNS name that rebinds
    to this address fails; an IP literal cannot be rebound, so a wildcard
    bind accepts any (the token still decides)."""
    if not header:
      return False
    parsed = split_host_header(header)
    if parsed is None:
      return False
    host, port = parsed
    if (port if port is not None else 80) != self.port:
      return False
    if host in self.hosts:
      return True
    return self.any_ip_literal and _ip(host) is not None

  def origin_allowed(self, origin: Optional[str],
                     host_header: Optional[str]) -> bool:
    """An ``Origin`` (when the browser sends one) is this server's own:
    ``http://`` and the very ``Host`` that passed ``host_allowed``."""
    if origin is None:
      return True
    return (host_header is not None
            and origin.strip().lower() == 'http://' + host_header.strip()
            .lower())


def request_policy(bind_host: str, port: int, token: str) -> RequestPolicy:
  """The policy of a server bound to ``bind_host:port``."""
  hosts: Set[str] = {url_host(bind_host)}
  wildcard = is_wildcard(bind_host)
  if wildcard or is_loopback(bind_host):
    hosts.update(LOOPBACK_NAMES)
  if wildcard:
    hosts.update(name.lower() for name in (socket.gethostname(),
                                            socket.getfqdn()) if name)
  return RequestPolicy(token, port, frozenset(hosts), wildcard)


def is_json_content_type(value: Optional[str]) -> bool:
  """``application/json``, with at most a UTF-8 charset."""
  if not value:
    return False
  media_type, _, params = value.partition(';')
  if media_type.strip().lower() != 'application/json':
    return False
  for param in filter(None, (p.strip() for p in params.split(';'))):
    name, _, val = param.partition('=')
    if name.strip().lower() != 'charset' or val.strip().strip(
        '"').lower() not in ('utf-8', 'utf8'):
      return False
  return True


def content_length(values: Sequence[str], limit: int) -> int:
  """The one ``Content-Length`` of a request, checked: 411 when absent,
  400 when not a plain non-negative integer (``abc``, ``-1``, ``+5``,
  two differing values), 413 above ``limit``."""
  if not values:
    raise RequestError(411, 'a Content-Length is required')
  if len(set(v.strip() for v in values)) != 1:
    raise RequestError(400, 'conflicting Content-Length headers')
  text = values[0].strip()
  if not re.fullmatch(r'\d{1,18}', text):
    raise RequestError(400, f'invalid Content-Length {text[:40]!r}')
  length = int(text)
  if length > limit:
    raise RequestError(413, f'request body over {limit} bytes')
  return length


class VerdictSubmission(NamedTuple):
  clip_id: str
  verdict: str
  note: Optional[str]
  scan_id: Optional[str]


class ClipReference(NamedTuple):
  scan_id: str
  clip_id: str


def json_object(body: bytes) -> Dict[str, Any]:
  """A request body that must be one JSON object (UTF-8)."""
  try:
    value = json.loads(body.decode('utf-8'))
  except UnicodeDecodeError as exc:
    raise RequestError(400, 'the body is not UTF-8') from exc
  except (ValueError, RecursionError) as exc:
    raise RequestError(400, 'the body is not valid JSON') from exc
  if not isinstance(value, dict):
    raise RequestError(400, 'the body must be a JSON object, got '
                       f'{type(value).__name__}')
  return value


def _text_field(fields: Dict[str, Any], name: str, required: bool,
                max_chars: int = MAX_ID_CHARS) -> Optional[str]:
  value = fields.get(name)
  if value is None and not required:
    return None
  if not isinstance(value, str) or (required and not value):
    raise RequestError(400, f'{name} must be a non-empty string'
                       if required else f'{name} must be a string or null')
  if len(value) > max_chars:
    raise RequestError(400, f'{name} is longer than {max_chars} characters')
  return value


def _only_fields(fields: Dict[str, Any], allowed: Sequence[str]) -> None:
  unknown = sorted(set(fields) - set(allowed))
  if unknown:
    raise RequestError(400, f'unknown field {unknown[0][:40]!r}')


def parse_verdict(body: bytes) -> VerdictSubmission:
  """``{"clip_id", "verdict", "note"?, "scan_id"?}``, every field checked."""
  fields = json_object(body)
  _only_fields(fields, ('clip_id', 'verdict', 'note', 'scan_id'))
  verdict = _text_field(fields, 'verdict', True)
  if verdict not in review_tables.VERDICTS:
    raise RequestError(400, 'verdict must be one of '
                       f"{', '.join(review_tables.VERDICTS)}")
  return VerdictSubmission(_text_field(fields, 'clip_id', True), verdict,
                           _text_field(fields, 'note', False, MAX_NOTE_CHARS)
                           or None, _text_field(fields, 'scan_id', False))


_QUEUE_FLOATS = ('min_score', 'max_score')
_QUEUE_INTS = ('offset', 'limit')
_QUEUE_FLAGS = ('unreviewed', 'disputed')
_QUEUE_TEXTS = ('label', 'modality', 'outcome', 'video', 'sort')
_FLAG_VALUES = {'1': True, 'true': True, '0': False, 'false': False}


def parse_queue_query(query: Dict[str, List[str]]
                      ) -> review_queue.QueueQuery:
  """``GET /api/clips``'s parameters (each at most once; empty means not
  given) as a checked ``queue.QueueQuery``; 400 for anything else."""
  fields: Dict[str, Any] = {}
  for name, values in query.items():
    if name == TOKEN_PARAM:
      continue
    if name not in _QUEUE_FLOATS + _QUEUE_INTS + _QUEUE_FLAGS + _QUEUE_TEXTS:
      raise RequestError(400, f'unknown parameter {name[:40]!r}')
    if len(values) != 1:
      raise RequestError(400, f'{name} given {len(values)} times')
    value = values[0]
    if len(value) > MAX_ID_CHARS:
      raise RequestError(400, f'{name} is longer than {MAX_ID_CHARS} '
                         'characters')
    if value == '':
      continue
    try:
      if name in _QUEUE_FLOATS:
        number = float(value)
        if number != number:  # NaN
          raise ValueError(value)
        fields[name] = number
      elif name in _QUEUE_INTS:
        if not re.fullmatch(r'\d{1,10}', value):
          raise ValueError(value)
        fields[name] = int(value)
      elif name in _QUEUE_FLAGS:
        fields[name] = _FLAG_VALUES[value.lower()]
      else:
        fields[name] = value
    except (ValueError, KeyError) as exc:
      raise RequestError(400, f'{name}: {value[:40]!r} is not valid') from exc
  parsed = review_queue.QueueQuery(**fields)
  try:
    parsed.check()
  except review_queue.QueueError as exc:
    raise RequestError(400, str(exc)) from exc
  return parsed


def parse_clip_reference(body: bytes) -> ClipReference:
  """``{"scan_id", "clip_id"}``: which clip to cut."""
  fields = json_object(body)
  _only_fields(fields, ('scan_id', 'clip_id'))
  return ClipReference(_text_field(fields, 'scan_id', True),
                       _text_field(fields, 'clip_id', True))


def split_target(target: str) -> Tuple[List[str], Dict[str, List[str]]]:
  """A request target (origin form only) as decoded path segments and
  query: ``/media/a%2Fb/c?token=x`` -> ``['media', 'a/b', 'c']``."""
  if not target.startswith('/'):
    raise RequestError(400, 'the request target must be a path')
  path, _, query = target.partition('#')[0].partition('?')
  try:
    segments = [urllib.parse.unquote(s, errors='strict')
                for s in path.split('/')[1:]]
    return segments, urllib.parse.parse_qs(
        query, keep_blank_values=True, errors='strict', max_num_fields=20)
  except (UnicodeDecodeError, ValueError) as exc:
    raise RequestError(400, 'the request target is not valid') from exc


def parse_byte_range(header: Optional[str],
                     size: int) -> Optional[Tuple[int, int]]:
  """An HTTP ``Range`` header as inclusive ``(first, last)`` bytes of a
  ``size``-byte file; ``None`` for the whole file (no header, or several
  ranges); ``ValueError`` when it cannot be satisfied."""
  if not header:
    return None
  match = re.fullmatch(r'\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*', header)
  if not match:
    if header.strip().startswith('bytes=') and ',' in header:
      return None
    raise ValueError(f'unsupported range {header!r}')
  first_text, last_text = match.groups()
  if not first_text and not last_text:
    raise ValueError(f'empty range {header!r}')
  if not first_text:  # the last N bytes
    length = int(last_text)
    if length == 0 or size == 0:
      raise ValueError('empty suffix range')
    return max(size - length, 0), size - 1
  first = int(first_text)
  last = min(int(last_text), size - 1) if last_text else size - 1
  if first >= size or last < first:
    raise ValueError(f'range {header!r} outside {size} bytes')
  return first, last


# --- Which file is served, and is it still the one the scan read -----------


@dataclasses.dataclass(frozen=True)
class SourceRecord:
  """A scan's source video as its ledger row recorded it (``version``:
  every identity fact the ledger holds, ``None`` without a size and time)."""
  uri: str
  size_bytes: Optional[int]
  updated_s: Optional[float]
  version: Optional[storage.SourceVersion] = None


def version_problem(record: SourceRecord, size: int,
                    mtime_s: float) -> Optional[str]:
  """Why a file of ``size`` bytes modified at ``mtime_s`` is not the
  version the ledger recorded; ``None`` when it is."""
  if record.size_bytes is None:
    return 'the ledger records no size for it'
  if size != record.size_bytes:
    return f'it has {size} bytes, the scan read {record.size_bytes}'
  if (record.updated_s is not None
      and abs(mtime_s - record.updated_s) > MTIME_TOLERANCE_S):
    return 'its modification time differs from the one the scan recorded'
  return None


def pin_local_source(record: SourceRecord
                     ) -> Union[storage.FileIdentity, str]:
  """Which file a local source names now (``storage.identify``, the one
  resolution the scan's prefix checks, reopening and ``--skip-scanned``
  use: canonical path, size, times, inode), when it is still the version
  the ledger recorded; else why not (it will never be served)."""
  try:
    identity = storage.identify(record.uri)
  except media_errors.MediaError as exc:
    return ('it no longer exists' if exc.kind == media_errors.NOT_FOUND
            else f'it cannot be read ({exc})')
  problem = version_problem(record, identity.version.size_bytes,
                            identity.version.updated_s)
  if not problem and record.version is not None and not storage.same_version(
      record.version, identity.version):
    problem = ('it is not the file the scan read (its inode, inode change '
               'time or object generation differ from the ledger\'s)')
  return problem or identity


def open_pinned_source(record: SourceRecord,
                       pin: Union[storage.FileIdentity, str]
                       ) -> Tuple[BinaryIO, int]:
  """Opens the pinned file (``storage.open_local`` on its canonical path:
  no symlink anywhere along it, the same inode and size) and checks what
  was opened (its ``fstat``) against the pin: the inode change time
  (``ctime``, which no one can set back: a rewrite with its times reset,
  a swap, a new link all change it) and the ledger's size and modification
  time.  Raises ``RequestError`` 409 (changed) or 410 (gone)."""
  name = record.uri
  if isinstance(pin, str):
    raise RequestError(409, f'{name} is not the file the scan read: {pin}')
  try:
    reader = storage.open_local(pin.uri, expected=pin.version)
  except FileNotFoundError as exc:
    raise RequestError(410, f'{name} no longer exists') from exc
  except media_errors.MediaError as exc:
    if exc.kind == media_errors.NOT_FOUND:
      raise RequestError(410, f'{name} is no longer a regular file') from exc
    raise RequestError(409, f'{name} changed since it was checked: '
                       f'{exc}') from exc
  except OSError as exc:
    raise RequestError(409, f'{name} cannot be opened safely '
                       f'({exc.strerror})') from exc
  try:
    found = os.fstat(reader.fileno())
    problem = version_problem(record, found.st_size, found.st_mtime)
    if problem:
      raise RequestError(409, f'{name} changed since the scan: {problem}')
    if (pin.version.changed_s is not None
        and found.st_ctime != pin.version.changed_s):
      raise RequestError(409, f'{name} was changed since the review server '
                         'started')
  except BaseException:
    reader.close()
    raise
  return reader, found.st_size


def open_local(path: str) -> Tuple[BinaryIO, os.stat_result]:
  """Opens a local file the server wrote (an extract), never through a
  symlink and without blocking on a FIFO or device, and returns it with
  its ``fstat`` (what is checked is what is read).  Sources go through
  ``open_pinned_source``."""
  flags = (os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW |
           getattr(os, 'O_CLOEXEC', 0))
  try:
    fd = os.open(path, flags)
  except FileNotFoundError as exc:
    raise RequestError(410, f'{path} no longer exists') from exc
  except OSError as exc:
    raise RequestError(409, f'{path} cannot be opened safely '
                       f'({exc.strerror})') from exc
  try:
    found = os.fstat(fd)
  except OSError:
    os.close(fd)
    raise
  return os.fdopen(fd, 'rb'), found


@dataclasses.dataclass
class OpenedMedia:
  """A checked file, open for sending."""
  reader: BinaryIO
  size: int
  content_type: str

  def close(self) -> None:
    self.reader.close()


def media_type(uri: str) -> str:
  suffix = os.path.splitext(uri.lower())[1]
  return (MEDIA_TYPES.get(suffix) or mimetypes.guess_type(uri)[0]
          or 'application/octet-stream')


def on_demand_key(scan_id: str, clip_id: str) -> str:
  """The file name of an extract cut on demand: from the scan and the clip,
  never from data (a crafted ``clip_id`` names no path)."""
  return hashlib.sha256(f'{scan_id}\x1f{clip_id}'.encode(
      'utf-8', 'surrogateescape')).hexdigest()[:32]


def _updated_s(value: Any) -> Optional[float]:
  return value.timestamp() if isinstance(value, datetime.datetime) else None


class ReviewApp:
  """The web app's state: the page, the files it may serve, the verdicts
  recorded so far, and the extracts cut on demand."""

  def __init__(self, request: ReportRequest, data: review_query.ReviewData,
               on_demand_dir: str, context_seconds: float,
               token: Optional[str] = None):
    self.request = request
    self.token = token or new_token()
    self.page = render_page(build_page_model(data, request, self.token),
                            page_title(request.root))
    # The queue's tables; new verdicts join ``reviews`` as they come.
    # DuckDB connections are not for concurrent use: every query holds
    # ``_lock``.
    self._con = review_query.connect(data)
    self._data = data
    self._reviews = data.reviews
    self._colours = label_colours(review_queue.labels(self._con))
    self._queue_filter = dataclasses.replace(request.clip_filter, limit=None)
    self.verdicts = {k: _jsonable(v) for k, v in
                     review_query.latest_verdicts(self._con).items()}
    rows = data.clips.drop_columns(['thumbnail']).to_pylist()
    # Clip ids are unique within a scan only: two scans of one video by
    # one model give their clips the same ids.
    self.clips: Dict[Tuple[str, str], Dict[str, Any]] = {
        (c['scan_id'], c['clip_id']): c for c in rows}
    self.clip_ids = {c['clip_id'] for c in rows}
    self.durations = review_query.video_durations_ms(data)
    identity = [c for c in scan_ledger.VERSION_COLUMNS
                if c in data.videos.column_names]
    ledger = {(scan_id, video_id): row for (video_id, scan_id), row in
              review_query.ledger_by_clip_scan(
                  data, ['video_uri', 'size_bytes', 'source_updated_at',
                         *identity]).items()}
    self.sources: Dict[Tuple[str, str], SourceRecord] = {}
    for clip in rows:
      key = (clip['scan_id'], clip['video_id'])
      row = ledger.get(key)
      # Rows from ledgers written before identities were recorded (no
      # identity fact at all) fall back to the size and modification time.
      recorded = (scan_ledger.recorded_version(row) if row and any(
                      row.get(c) is not None for c in identity) and
                  row['size_bytes'] is not None and
                  row['source_updated_at'] is not None else None)
      self.sources[key] = SourceRecord(
          clip['video_uri'], row['size_bytes'] if row else None,
          _updated_s(row['source_updated_at']) if row else None, recorded)
    self._pins: Dict[str, Union[storage.FileIdentity, str]] = {
        record.uri: pin_local_source(record)
        for record in self.sources.values()
        if not storage.has_scheme(record.uri)}
    self.on_demand_dir = on_demand_dir
    self.context_seconds = context_seconds
    self._cut: Dict[str, str] = {}
    self._generations: Dict[str, Optional[int]] = {}
    self._lock = threading.Lock()
    self._extract_locks: Dict[str, threading.Lock] = {}

  def clip(self, scan_id: Optional[str], clip_id: str) -> Dict[str, Any]:
    """A clip row by scan and id (any scan's, when ``scan_id`` is None)."""
    if scan_id is not None:
      row = self.clips.get((scan_id, clip_id))
      if row is None:
        raise RequestError(404, 'unknown clip')
      return row
    if clip_id not in self.clip_ids:
      raise RequestError(400, 'unknown clip_id')
    return next(c for (_, cid), c in self.clips.items() if cid == clip_id)

  def queue(self, query: review_queue.QueueQuery) -> Dict[str, Any]:
    """One page of the queue (``GET /api/clips``): its cards, their
    videos and the counts (``queue.QueuePage``).  Every matching clip is
    reachable, page by page (the command line's ``--limit`` cuts the
    static export only)."""
    with self._lock:
      try:
        page = review_queue.queue_page(self._con, self._queue_filter, query)
      except review_queue.QueueError as exc:
        raise RequestError(400, str(exc)) from exc
      cards, videos = page_clips(self._con, self._data, page.clips,
                                 self.request, self._colours, self.token)
    return dict(clips=cards, videos=videos, total=page.total,
                matching=page.matching, reviewed=page.reviewed,
                disputes=page.disputes, offset=page.offset, limit=page.limit)

  def record_verdict(self, submission: VerdictSubmission
                     ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Appends the verdict (by the session's reviewer) and returns it
    with the clip's new ``outcome``, ``reviewers``, ``distinct_verdicts``
    and ``history``."""
    self.clip(submission.scan_id, submission.clip_id)
    reviewed_at = datetime.datetime.now(datetime.timezone.utc)
    try:
      path = review_query.append_verdict(
          self.request.root, submission.clip_id, submission.verdict,
          self.request.reviewer, submission.note, reviewed_at)
    except review_query.VerdictError as exc:
      raise RequestError(400, str(exc)) from exc
    make_private(path, self.request.root)
    recorded = dict(clip_id=submission.clip_id, verdict=submission.verdict,
                    reviewer=self.request.reviewer, reviewed_at=reviewed_at,
                    note=submission.note)
    row = _jsonable(recorded)
    state = [dict(clip_id=submission.clip_id)]
    with self._lock:
      self.verdicts[submission.clip_id] = row
      self._reviews = pa.concat_tables([self._reviews, pa.Table.from_pylist(
          [recorded], schema=self._reviews.schema)])
      self._con.register('reviews', self._reviews)
      review_queue.with_history(self._con, state)
    state[0]['history'] = [_jsonable(h) for h in state[0]['history']]
    return row, state[0]

  def open_source(self, scan_id: str, video_id: str) -> OpenedMedia:
    """A scan's source video, checked to be the file the scan read."""
    record = self.sources.get((scan_id, video_id))
    if record is None:
      raise RequestError(404, 'unknown video')
    if not storage.has_scheme(record.uri):
      reader, size = open_pinned_source(record, self._pins[record.uri])
      return OpenedMedia(reader, size, media_type(record.uri))
    try:
      version = storage.source_version(record.uri)
    except media_errors.MediaError as exc:
      raise RequestError(410, f'{record.uri} no longer exists') from exc
    problem = version_problem(record, version.size_bytes, version.updated_s)
    if problem:
      raise RequestError(409, f'{record.uri} changed since the scan: '
                         f'{problem}')
    # A GCS object's generation (where the storage layer reports one) is
    # pinned at first use: a rewrite with the same size and time differs.
    generation = getattr(version, 'generation', None)
    with self._lock:
      pinned = self._generations.setdefault(record.uri, generation)
    if pinned != generation:
      raise RequestError(409, f'{record.uri} was rewritten since the review '
                         'server first served it')
    return OpenedMedia(storage.open_media(record.uri), version.size_bytes,
                       media_type(record.uri))

  def _check_source(self, scan_id: str, video_id: str) -> None:
    self.open_source(scan_id, video_id).close()

  def open_extract(self, scan_id: str, clip_id: str) -> OpenedMedia:
    """An extract from ``--extract-dir``, only when cut from this clip."""
    clip = self.clip(scan_id, clip_id)
    extract = read_matching_extract(self.request.extract_dir, clip)
    if extract is None:
      raise RequestError(404, 'no extract of this clip')
    if storage.has_scheme(extract.path):
      try:
        size = storage.file_size(extract.path)
      except media_errors.MediaError as exc:
        raise RequestError(410, 'the extract no longer exists') from exc
      if size != extract.size_bytes:
        raise RequestError(409, 'the extract changed since it was cut')
      return OpenedMedia(storage.open_media(extract.path), size, 'video/mp4')
    reader, found = open_local(extract.path)
    if not stat.S_ISREG(found.st_mode) or found.st_size != extract.size_bytes:
      reader.close()
      raise RequestError(409, 'the extract changed since it was cut')
    return OpenedMedia(reader, found.st_size, 'video/mp4')

  def open_transcoded(self, key: str) -> OpenedMedia:
    with self._lock:
      path = self._cut.get(key)
    if path is None:
      raise RequestError(404, 'no such extract')
    reader, found = open_local(path)
    return OpenedMedia(reader, found.st_size, 'video/mp4')

  def extract_on_demand(self, scan_id: str, clip_id: str) -> Dict[str, Any]:
    """A browser-playable (H.264) extract of a clip, cut once, from its
    source checked before and after the cut."""
    clip = self.clip(scan_id, clip_id)
    key = on_demand_key(scan_id, clip_id)
    with self._lock:
      lock = self._extract_locks.setdefault(key, threading.Lock())
    with lock:
      extracted = clip_extract.read_sidecar(self.on_demand_dir, key)
      if extracted is None:
        self._check_source(scan_id, clip['video_id'])
        request = dataclasses.replace(
            clip_extract.request_for(
                clip, self.durations.get((clip['video_id'], scan_id))),
            clip_id=key)
        try:
          extracted = clip_extract.extract_clip(
              request, self.on_demand_dir, self.context_seconds, 'always')
        except media_errors.MEDIA_EXCEPTIONS as exc:
          kind, message = media_errors.classify(exc)
          raise RequestError(422, f'{kind}: {message}') from exc
        try:
          self._check_source(scan_id, clip['video_id'])
        except RequestError:
          for path in clip_extract.extract_paths(self.on_demand_dir, key):
            if os.path.lexists(path):
              os.remove(path)
          raise
      with self._lock:
        self._cut[key] = extracted.path
    start_s, end_s = extracted.clip_range_in_extract_s()
    return dict(src=with_token(f'/transcoded/{key}.mp4', self.token),
                start_s=start_s, end_s=end_s, method=extracted.method)


def make_private(path: str, root: str) -> None:
  """A local file the server wrote, and its folders up to ``root``, made
  readable by the owner only (as scan outputs are)."""
  if storage.has_scheme(path):
    return
  os.chmod(path, 0o600)
  top = os.path.abspath(root)
  folder = os.path.dirname(os.path.abspath(path))
  while folder.startswith(top + os.sep) and folder != top:
    if os.stat(folder).st_uid == os.getuid():
      os.chmod(folder, 0o700)
    folder = os.path.dirname(folder)


class ReviewHandler(http.server.BaseHTTPRequestHandler):
  """Routes (every one behind ``RequestPolicy``): ``/`` the page;
  ``/media/SCAN/VIDEO_ID``, ``/extracts/SCAN/CLIP.mp4``,
  ``/transcoded/KEY.mp4`` files with Range support; ``/api/clips`` GET
  (one page of the queue, ``parse_queue_query``); ``/api/verdicts`` GET
  (latest per clip) and POST (record one); ``/api/extract`` POST (cut a
  browser-playable extract of ``{"scan_id", "clip_id"}``)."""

  app: ReviewApp           # set on the subclass ``ReviewServer`` makes
  policy: RequestPolicy    # likewise
  protocol_version = 'HTTP/1.1'
  # A request line the parser cannot read still gets a status line.
  default_request_version = 'HTTP/1.0'
  server_version = 'rescan-review'
  sys_version = ''
  timeout = REQUEST_TIMEOUT_S

  def log_message(self, *args: Any) -> None:
    del args  # quiet: the terminal shows the URL, not every request

  # --- responses ---

  def _send_bytes(self, status: int, body: bytes, content_type: str,
                  extra_headers: Sequence[Tuple[str, str]] = ()) -> None:
    self.send_response(status)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body)))
    for name, value in tuple(SECURITY_HEADERS) + tuple(extra_headers):
      self.send_header(name, value)
    if self.close_connection:
      self.send_header('Connection', 'close')
    self.end_headers()
    if self.command != 'HEAD':
      self.wfile.write(body)

  def _send_json(self, status: int, value: Any) -> None:
    self._send_bytes(status, json.dumps(value).encode('utf-8'),
                     'application/json')

  def _refuse(self, status: int, message: str) -> None:
    """An error response; the connection closes after it, since a body
    the request may carry was not read."""
    self.close_connection = True
    self.server.count_refusal(status)  # type: ignore[attr-defined]
    self._send_json(status, {'error': message})

  def send_error(self, code: int, message: Optional[str] = None,
                 explain: Optional[str] = None) -> None:
    """The standard library's own refusals (a bad request line, headers
    too long, an unknown method) as JSON 4xx too."""
    del explain
    if code == http.HTTPStatus.NOT_IMPLEMENTED:
      code, message = 405, f'method {self.command!r} not allowed'
    elif code >= 500:  # e.g. 505 for "HTTP/9.9": still the client's fault
      code = 400
    self.close_connection = True
    self.server.count_refusal(code)  # type: ignore[attr-defined]
    body = json.dumps({'error': message or http.HTTPStatus(code).phrase})
    self.send_response(code)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(body)))
    self.send_header('Connection', 'close')
    for name, value in SECURITY_HEADERS:
      self.send_header(name, value)
    self.end_headers()
    if self.command != 'HEAD' and code >= 200:
      self.wfile.write(body.encode('utf-8'))

  # --- the checks every request passes ---

  def _authorised(self, query: Dict[str, List[str]], write: bool) -> None:
    host = self.headers.get_all('Host') or []
    if len(host) != 1 or not self.policy.host_allowed(host[0]):
      raise RequestError(421, 'this server does not serve that Host')
    origins = self.headers.get_all('Origin') or []
    if len(origins) > 1 or not self.policy.origin_allowed(
        origins[0] if origins else None, host[0]):
      raise RequestError(403, 'cross-origin requests are refused')
    if (self.headers.get('Sec-Fetch-Site') or '').strip().lower() in (
        'cross-site', 'same-site'):
      raise RequestError(403, 'cross-site requests are refused')
    given = self.headers.get(TOKEN_HEADER)
    if given is None and not write and len(query.get(TOKEN_PARAM, [])) == 1:
      given = query[TOKEN_PARAM][0]
    if not token_matches(self.policy.token, given):
      raise RequestError(403, 'a valid session token is required: open the '
                         'URL "rescan report --serve" printed')

  def _body(self) -> bytes:
    if self.headers.get('Transfer-Encoding'):
      raise RequestError(411, 'chunked bodies are not accepted')
    if not is_json_content_type(self.headers.get('Content-Type')):
      raise RequestError(415, 'writes must be Content-Type: application/json')
    length = content_length(self.headers.get_all('Content-Length') or [],
                            MAX_REQUEST_BYTES)
    body = self.rfile.read(length) if length else b''
    if len(body) != length:
      raise RequestError(400, 'the body ended early')
    return body

  def _handle(self, write: Optional[bool]) -> None:
    """Checks a request, then routes it (``write`` None: a method no
    route takes); every refusal is a JSON 4xx and the server goes on."""
    try:
      segments, query = split_target(self.path)
      self._authorised(query, bool(write))
      if write is None:
        raise RequestError(405, f'method {self.command} not allowed')
      if write:
        self._post(segments, self._body())
      else:
        if self.headers.get('Content-Length', '0').strip() not in ('', '0'):
          self.close_connection = True  # a body we will not read
        self._get(segments, query)
    except RequestError as exc:
      self._refuse(exc.status, exc.message)
    except (ConnectionError, TimeoutError):
      self.close_connection = True  # the client went away
    except Exception as exc:  # pylint: disable=broad-except
      # The server's outer boundary: one request's unexpected failure
      # must not kill the others, nor print a traceback.
      print(f'review server: {type(exc).__name__}: '
            f'{media_errors.short_message(exc)}', file=sys.stderr)
      self._refuse(500, 'internal error')

  def do_GET(self) -> None:  # pylint: disable=invalid-name
    self._handle(write=False)

  do_HEAD = do_GET

  def do_POST(self) -> None:  # pylint: disable=invalid-name
    self._handle(write=True)

  def _no_route(self) -> None:
    self._handle(write=None)

  do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = (
      _no_route)

  # --- routes ---

  def _get(self, segments: List[str], query: Dict[str, List[str]]) -> None:
    if segments in (['',], ['index.html']):
      self._send_bytes(200, self.app.page.encode('utf-8'),
                       'text/html; charset=utf-8',
                       [('Content-Security-Policy', PAGE_CSP)])
    elif segments == ['api', 'verdicts']:
      with self.app._lock:  # pylint: disable=protected-access
        verdicts = dict(self.app.verdicts)
      self._send_json(200, verdicts)
    elif segments == ['api', 'clips']:
      self._send_json(200, self.app.queue(parse_queue_query(query)))
    elif len(segments) == 3 and segments[0] == 'media':
      self._send_media(self.app.open_source(segments[1], segments[2]))
    elif (len(segments) == 3 and segments[0] == 'extracts'
          and segments[2].endswith('.mp4')):
      self._send_media(self.app.open_extract(segments[1],
                                             segments[2][:-len('.mp4')]))
    elif (len(segments) == 2 and segments[0] == 'transcoded'
          and segments[1].endswith('.mp4')):
      self._send_media(self.app.open_transcoded(segments[1][:-len('.mp4')]))
    else:
      raise RequestError(404, 'not found')

  def _post(self, segments: List[str], body: bytes) -> None:
    if segments == ['api', 'verdicts']:
      row, clip = self.app.record_verdict(parse_verdict(body))
      self._send_json(201, {'verdict': row, 'clip': clip})
    elif segments == ['api', 'extract']:
      target = parse_clip_reference(body)
      self._send_json(200, self.app.extract_on_demand(target.scan_id,
                                                      target.clip_id))
    else:
      raise RequestError(404, 'not found')

  def _send_media(self, media: OpenedMedia) -> None:
    """A checked file, whole or the byte range the browser asked for."""
    with contextlib.closing(media):
      size = media.size
      try:
        byte_range = parse_byte_range(self.headers.get('Range'), size)
      except ValueError:
        self.send_response(416)
        self.send_header('Content-Range', f'bytes */{size}')
        self.send_header('Content-Length', '0')
        for name, value in SECURITY_HEADERS:
          self.send_header(name, value)
        self.end_headers()
        return
      first, last = byte_range or (0, size - 1)
      self.send_response(206 if byte_range else 200)
      self.send_header('Content-Type', media.content_type)
      self.send_header('Accept-Ranges', 'bytes')
      self.send_header('Content-Length', str(max(last - first + 1, 0)))
      if byte_range:
        self.send_header('Content-Range', f'bytes {first}-{last}/{size}')
      for name, value in SECURITY_HEADERS:
        self.send_header(name, value)
      self.end_headers()
      if self.command == 'HEAD' or size == 0:
        return
      media.reader.seek(first)
      remaining = last - first + 1
      while remaining > 0:
        chunk = media.reader.read(min(SEND_CHUNK_BYTES, remaining))
        if not chunk:
          # The file is shorter than checked: end the connection rather
          # than send a response shorter than its Content-Length says.
          self.close_connection = True
          break
        self.wfile.write(chunk)
        remaining -= len(chunk)


class RemoteRefused(ValueError):
  """A non-loopback address without the operator's explicit consent."""


class _QuietServer(http.server.ThreadingHTTPServer):
  """Serves on IPv4 or IPv6, and reports a failed connection in one line,
  never a traceback."""
  daemon_threads = True

  def __init__(self, *args: Any, **kwargs: Any):
    super().__init__(*args, **kwargs)
    self.refusals: collections.Counter = collections.Counter()
    self._refusals_lock = threading.Lock()

  def count_refusal(self, status: int) -> None:
    """Refused requests by status, for the operator and the tests."""
    with self._refusals_lock:
      self.refusals[status] += 1

  def handle_error(self, request, client_address) -> None:
    del request, client_address
    exc = sys.exc_info()[1]
    if isinstance(exc, (ConnectionError, TimeoutError)):
      return
    print(f'review server: {type(exc).__name__}: '
          f'{media_errors.short_message(exc)}', file=sys.stderr)


class ReviewServer:
  """The review web app on ``host:port`` in a background thread; a
  context manager that stops it on exit.  A non-loopback ``host`` raises
  ``RemoteRefused`` unless ``allow_remote``; ``OSError`` when the address
  cannot be bound (a port in use)."""

  def __init__(self, app: ReviewApp, host: str = '127.0.0.1',
               port: int = DEFAULT_PORT, allow_remote: bool = False):
    if not allow_remote and not is_loopback(host):
      raise RemoteRefused(
          f'--host {host} is reachable from other machines; the review '
          'page shows flagged content and records verdicts: pass '
          '--allow-remote to serve it there (token-protected)')
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    server_class = type('ReviewHTTPServer', (_QuietServer,),
                        {'address_family': family})
    self.httpd = server_class((_bare(host), port),
                              http.server.BaseHTTPRequestHandler)
    bound_port = self.httpd.server_address[1]
    self.policy = request_policy(host, bound_port, app.token)
    self.httpd.RequestHandlerClass = type(
        'BoundReviewHandler', (ReviewHandler,),
        {'app': app, 'policy': self.policy})
    shown = (socket.gethostname() if is_wildcard(host) else url_host(host))
    self.base_url = f'http://{shown}:{bound_port}/'
    self.url = with_token(self.base_url, app.token)
    self._thread = threading.Thread(target=self.httpd.serve_forever,
                                    name='review-server', daemon=True)

  def __enter__(self) -> 'ReviewServer':
    self._thread.start()
    return self

  def __exit__(self, *exc_info) -> None:
    self.httpd.shutdown()
    self.httpd.server_close()
    self._thread.join(timeout=10)


def write_static_page(data: review_query.ReviewData, request: ReportRequest,
                      path: str) -> Dict[str, Any]:
  """Writes the read-only page to the local file ``path``, readable by its
  owner only (it embeds thumbnails of flagged frames); returns what it
  shows (``build_page_model``)."""
  model = build_page_model(data, request)
  fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
  with os.fdopen(fd, 'w', encoding='utf-8') as f:
    os.fchmod(f.fileno(), 0o600)
    f.write(render_page(model, page_title(request.root)))
  return model
