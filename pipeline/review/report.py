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
"""
from __future__ import annotations

import base64
import collections
import dataclasses
import datetime
import html
import http.server
import json
import mimetypes
import os
import pathlib
import re
import threading
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pipeline.review import extract as clip_extract
from pipeline.review import page as review_page
from pipeline.review import query as review_query
from pipeline.storage import files as storage
from schemas import review_tables

STATIC, SERVE = 'static', 'serve'
DEFAULT_PORT = 8765
DEFAULT_LIMIT = 200
MAX_HASH_MATCH_ROWS = 500
MAX_REQUEST_BYTES = 64 * 1024
SEND_CHUNK_BYTES = 256 * 1024
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


def timeline_svg(clips: Sequence[Dict[str, Any]], duration_ms: int,
                 threshold: Optional[float], colours: Dict[str, str],
                 width: int = 540, height: int = 130) -> str:
  """A video's clips on its time axis: a bar per clip as tall as its mean
  score, a stem at its peak, and the threshold as a dashed line."""
  left, right, top, bottom = 34, 10, 10, 34
  plot_w, plot_h = width - left - right, height - top - bottom
  duration = max(duration_ms, max((c['end_ms'] for c in clips), default=0), 1)

  def x(ms: float) -> float:
    return round(left + plot_w * ms / duration, 1)

  def y(value: float) -> float:
    return round(top + plot_h * (1.0 - min(max(value, 0.0), 1.0)), 1)

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
  for clip in sorted(clips, key=lambda c: c['start_ms']):
    colour = colours.get(clip['label'], LABEL_COLOURS[-1])
    x0, x1 = x(clip['start_ms']), x(clip['end_ms'])
    tip = (f"{clip['label']} {clip['start_ms'] / 1000:.1f}s–"
           f"{clip['end_ms'] / 1000:.1f}s peak {clip['peak_score']:.3f} "
           f"mean {clip['mean_score']:.3f}")
    parts.append(
        f'<g class="tl-clip" data-clip-id="{esc(clip["clip_id"])}">'
        f'<title>{esc(tip)}</title>'
        f'<rect x="{x0}" y="{y(clip["mean_score"])}" '
        f'width="{max(x1 - x0, 2)}" '
        f'height="{round(y(0) - y(clip["mean_score"]), 1)}" '
        f'fill="{colour}" fill-opacity="0.35"/>'
        f'<line x1="{x(clip["peak_ms"])}" x2="{x(clip["peak_ms"])}" '
        f'y1="{y(0)}" y2="{y(clip["peak_score"])}" stroke="{colour}" '
        'stroke-width="1.5"/>'
        f'<circle cx="{x(clip["peak_ms"])}" cy="{y(clip["peak_score"])}" '
        f'r="3" fill="{colour}"/></g>')
  if threshold is not None:
    parts.append(f'<line class="threshold" x1="{left}" x2="{left + plot_w}" '
                 f'y1="{y(threshold)}" y2="{y(threshold)}" stroke="#c4302b" '
                 'stroke-dasharray="5 3"/>'
                 f'<text x="{left + plot_w}" y="{y(threshold) - 3}" '
                 'font-size="10" text-anchor="end" fill="#c4302b">'
                 f'threshold {threshold:.2f}</text>')
  legend_x = left
  for label in sorted({c['label'] for c in clips}):
    parts.append(f'<rect x="{legend_x}" y="{height - 11}" width="9" '
                 f'height="9" fill="{colours.get(label, LABEL_COLOURS[-1])}"/>'
                 f'<text x="{legend_x + 12}" y="{height - 3}" font-size="10" '
                 f'fill="#1d2330">{esc(label)}</text>')
    legend_x += 20 + 6 * len(label)
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


def player_for(clip: Dict[str, Any], codec: Optional[str],
               extract: Optional[clip_extract.ExtractedClip], mode: str,
               html_dir: Optional[str] = None) -> Dict[str, Any]:
  """Where the page plays a clip from, and which time range of it."""
  source_range = (clip['start_ms'] / 1000, clip['end_ms'] / 1000)
  if extract is not None:
    start_s, end_s = extract.clip_range_in_extract_s()
    if mode == SERVE:
      return dict(kind='extract', src=f"/extracts/{clip['clip_id']}.mp4",
                  start_s=start_s, end_s=end_s)
    if not storage.has_scheme(extract.path):
      return dict(kind='extract', src=_local_url(extract.path, html_dir),
                  start_s=start_s, end_s=end_s)
  playable = browser_plays(clip['video_uri'], codec)
  if mode == SERVE:
    if not playable:
      return dict(kind='on_demand')
    return dict(kind='source', src='/media/' + urllib.parse.quote(
        clip['video_id']), start_s=source_range[0], end_s=source_range[1])
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


def build_page_model(data: review_query.ReviewData,
                     request: ReportRequest) -> Dict[str, Any]:
  """Everything the page shows, as JSON-ready data."""
  con = review_query.connect(data)
  clips = review_query.top_clips(con, request.clip_filter,
                                 with_thumbnails=True)
  keys = {(c['video_id'], c['scan_id']) for c in clips}
  ledger = {(v['video_id'], v['scan_id']): v
            for v in data.videos.to_pylist()
            if (v['video_id'], v['scan_id']) in keys}
  all_clips = [c for c in data.clips.drop_columns(['thumbnail']).to_pylist()
               if (c['video_id'], c['scan_id']) in keys]
  colours = label_colours([c['label'] for c in all_clips])
  clips_by_video: Dict[Tuple[str, str], List[Dict]] = (
      collections.defaultdict(list))
  for clip in all_clips:
    clips_by_video[(clip['video_id'], clip['scan_id'])].append(clip)
  matches = review_query.top_hash_matches(
      con, {video_id for video_id, _ in keys} if request.clip_filter.videos
      else None, MAX_HASH_MATCH_ROWS)
  matches_by_video: Dict[str, List[Dict]] = collections.defaultdict(list)
  for match in matches:
    matches_by_video[match['video_id']].append(_jsonable(match))
  videos = {}
  for (video_id, scan_id), video_clips in clips_by_video.items():
    row = ledger.get((video_id, scan_id), {})
    videos[video_key(video_id, scan_id)] = dict(
        video_uri=video_clips[0]['video_uri'], codec=row.get('codec'),
        duration_ms=row.get('duration_ms'),
        hash_matches=matches_by_video.get(video_id, []),
        timeline_svg=timeline_svg(
            video_clips, row.get('duration_ms') or 0,
            video_clips[0]['threshold'], colours))
  page_clips = []
  for clip in clips:
    extract = (clip_extract.read_sidecar(request.extract_dir, clip['clip_id'])
               if request.extract_dir else None)
    row = ledger.get((clip['video_id'], clip['scan_id']), {})
    page_clips.append(dict(
        _jsonable(clip), thumbnail=thumbnail_data_uri(clip.get('thumbnail')),
        video_key=video_key(clip['video_id'], clip['scan_id']),
        player=player_for(clip, row.get('codec'), extract, request.mode,
                          request.html_dir)))
  verdicts = ({} if request.mode == SERVE else
              {k: _jsonable(v) for k, v in
               review_query.latest_verdicts(con).items()})
  return dict(
      mode=request.mode, root=request.root, reviewer=request.reviewer,
      generated_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
      clips=page_clips, videos=videos, verdicts=verdicts,
      hash_matches=[_jsonable(m) for m in matches],
      verdict_choices=[dict(value=v, key=key, title=title)
                       for v, (key, title) in VERDICT_KEYS.items()])


def page_title(root: str) -> str:
  return f'Review · {root}'


def render_page(model: Dict[str, Any], title: str) -> str:
  """The self-contained review page (no network, no external assets)."""
  data = json.dumps(model, ensure_ascii=False).replace('<', '\\u003c')
  return (review_page.PAGE_TEMPLATE
          .replace('__TITLE__', html.escape(title))
          .replace('__REVIEW_DATA__', data))


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


class ReviewApp:
  """The web app's state: the page, the files it may serve, the verdicts
  recorded so far, and the extracts cut on demand."""

  def __init__(self, request: ReportRequest, data: review_query.ReviewData,
               on_demand_dir: str, context_seconds: float):
    self.request = request
    self.page = render_page(build_page_model(data, request),
                            page_title(request.root))
    con = review_query.connect(data)
    self.verdicts = {k: _jsonable(v) for k, v in
                     review_query.latest_verdicts(con).items()}
    self.clips = {c['clip_id']: c for c in
                  data.clips.drop_columns(['thumbnail']).to_pylist()}
    self.durations = review_query.video_durations_ms(data)
    self.video_uris = {c['video_id']: c['video_uri']
                       for c in self.clips.values()}
    self.on_demand_dir = on_demand_dir
    self.context_seconds = context_seconds
    self._lock = threading.Lock()
    self._extract_locks: Dict[str, threading.Lock] = {}

  def record_verdict(self, clip_id: str, verdict: str,
                     note: Optional[str]) -> Dict[str, Any]:
    if clip_id not in self.clips:
      raise review_query.VerdictError(f'unknown clip_id {clip_id!r}')
    reviewed_at = datetime.datetime.now(datetime.timezone.utc)
    review_query.append_verdict(self.request.root, clip_id, verdict,
                                self.request.reviewer, note, reviewed_at)
    row = dict(clip_id=clip_id, verdict=verdict,
               reviewer=self.request.reviewer,
               reviewed_at=reviewed_at.isoformat(), note=note)
    with self._lock:
      self.verdicts[clip_id] = row
    return row

  def extract_on_demand(self, clip_id: str) -> Dict[str, Any]:
    """A browser-playable (H.264) extract of a clip, cut once."""
    clip = self.clips[clip_id]
    with self._lock:
      lock = self._extract_locks.setdefault(clip_id, threading.Lock())
    with lock:
      extracted = clip_extract.read_sidecar(self.on_demand_dir, clip_id)
      if extracted is None:
        request = clip_extract.request_for(
            clip, self.durations.get((clip['video_id'], clip['scan_id'])))
        extracted = clip_extract.extract_clip(
            request, self.on_demand_dir, self.context_seconds, 'always')
    start_s, end_s = extracted.clip_range_in_extract_s()
    return dict(src=f'/transcoded/{clip_id}.mp4', start_s=start_s,
                end_s=end_s, method=extracted.method)

  def media_uri(self, path: str) -> Optional[str]:
    """The stored file behind a media path of the page, if it is one."""
    kind, _, name = path.lstrip('/').partition('/')
    name = urllib.parse.unquote(name)
    if kind == 'media':
      return self.video_uris.get(name)
    clip_id = name[:-len('.mp4')] if name.endswith('.mp4') else None
    if clip_id not in self.clips:
      return None
    if kind == 'extracts' and self.request.extract_dir:
      return clip_extract.extract_paths(self.request.extract_dir, clip_id)[0]
    if kind == 'transcoded':
      return clip_extract.extract_paths(self.on_demand_dir, clip_id)[0]
    return None


class ReviewHandler(http.server.BaseHTTPRequestHandler):
  """Routes: ``/`` the page; ``/media/VIDEO_ID``, ``/extracts/CLIP.mp4``,
  ``/transcoded/CLIP.mp4`` files with Range support; ``/api/verdicts``
  GET (latest per clip) and POST (record one); ``/api/extract/CLIP_ID``
  POST (cut a browser-playable extract)."""

  app: ReviewApp  # set on the subclass ``serve`` makes
  protocol_version = 'HTTP/1.1'

  def log_message(self, *args: Any) -> None:
    del args  # quiet: the terminal shows the URL, not every request

  def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
    self.send_response(status)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body)))
    self.send_header('Cache-Control', 'no-store')
    self.end_headers()
    if self.command != 'HEAD':
      self.wfile.write(body)

  def _send_json(self, status: int, value: Any) -> None:
    self._send_bytes(status, json.dumps(value).encode('utf-8'),
                     'application/json')

  def do_GET(self) -> None:  # pylint: disable=invalid-name
    path = urllib.parse.urlsplit(self.path).path
    if path in ('/', '/index.html'):
      self._send_bytes(200, self.app.page.encode('utf-8'),
                       'text/html; charset=utf-8')
    elif path == '/api/verdicts':
      self._send_json(200, self.app.verdicts)
    elif (uri := self.app.media_uri(path)) is not None:
      self._send_media(uri)
    else:
      self._send_json(404, {'error': 'not found'})

  do_HEAD = do_GET

  def do_POST(self) -> None:  # pylint: disable=invalid-name
    path = urllib.parse.urlsplit(self.path).path
    length = int(self.headers.get('Content-Length') or 0)
    if length > MAX_REQUEST_BYTES:
      self._send_json(413, {'error': 'request too large'})
      return
    body = self.rfile.read(length) if length else b''
    try:
      if path == '/api/verdicts':
        fields = json.loads(body or b'{}')
        row = self.app.record_verdict(str(fields.get('clip_id') or ''),
                                      str(fields.get('verdict') or ''),
                                      fields.get('note') or None)
        self._send_json(201, {'verdict': row})
      elif path.startswith('/api/extract/'):
        clip_id = urllib.parse.unquote(path[len('/api/extract/'):])
        if clip_id not in self.app.clips:
          self._send_json(404, {'error': f'unknown clip_id {clip_id!r}'})
          return
        self._send_json(200, self.app.extract_on_demand(clip_id))
      else:
        self._send_json(404, {'error': 'not found'})
    except (review_query.VerdictError, json.JSONDecodeError) as exc:
      self._send_json(400, {'error': str(exc)})
    except clip_extract.media_errors.MEDIA_EXCEPTIONS as exc:
      kind, message = clip_extract.media_errors.classify(exc)
      self._send_json(422, {'error': f'{kind}: {message}'})

  def _send_media(self, uri: str) -> None:
    """A stored file, whole or the byte range the browser asked for."""
    try:
      size = storage.file_size(uri)
    except clip_extract.media_errors.MediaError:
      self._send_json(404, {'error': 'not found'})
      return
    try:
      byte_range = parse_byte_range(self.headers.get('Range'), size)
    except ValueError:
      self.send_response(416)
      self.send_header('Content-Range', f'bytes */{size}')
      self.send_header('Content-Length', '0')
      self.end_headers()
      return
    first, last = byte_range or (0, size - 1)
    self.send_response(206 if byte_range else 200)
    suffix = os.path.splitext(uri.lower())[1]
    self.send_header('Content-Type', MEDIA_TYPES.get(suffix) or
                     mimetypes.guess_type(uri)[0] or 'application/octet-stream')
    self.send_header('Accept-Ranges', 'bytes')
    self.send_header('Content-Length', str(max(last - first + 1, 0)))
    if byte_range:
      self.send_header('Content-Range', f'bytes {first}-{last}/{size}')
    self.end_headers()
    if self.command == 'HEAD' or size == 0:
      return
    try:
      with storage.open_media(uri) as reader:
        reader.seek(first)
        remaining = last - first + 1
        while remaining > 0:
          chunk = reader.read(min(SEND_CHUNK_BYTES, remaining))
          if not chunk:
            break
          self.wfile.write(chunk)
          remaining -= len(chunk)
    except (BrokenPipeError, ConnectionResetError):
      pass  # the browser moved on (players cancel ranges while seeking)


class ReviewServer:
  """The review web app on ``host:port`` in a background thread; a
  context manager that stops it on exit."""

  def __init__(self, app: ReviewApp, host: str = '127.0.0.1',
               port: int = DEFAULT_PORT):
    handler = type('BoundReviewHandler', (ReviewHandler,), {'app': app})
    self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
    self.httpd.daemon_threads = True
    self.url = f'http://{host}:{self.httpd.server_address[1]}/'
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
  """Writes the read-only page to the local file ``path``; returns what it
  shows (``build_page_model``)."""
  model = build_page_model(data, request)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(render_page(model, page_title(request.root)))
  return model
