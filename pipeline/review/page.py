"""The review page's HTML, CSS and JavaScript, as one template string.

``review_report.render_page`` fills in ``__TITLE__`` (HTML-escaped) and
``__REVIEW_DATA__`` (the page model as JSON, with ``<`` escaped so it can
never close the script element).  The page builds its DOM from that data
with ``textContent`` only; the one piece of trusted markup is each video's
timeline SVG, rendered and escaped in Python.

Keys: ``j``/``k`` (or arrows) move between clips, ``1`` violating, ``2`` not
violating, ``3`` unsure, ``space`` play/pause, ``r`` replay the clip,
``n`` write a note.

Served, the page carries the session token (``DATA.token``): media URLs
have it as ``?token=``, API calls send it as ``X-Review-Token``, writes
are JSON ``POST``s.
"""

PAGE_TEMPLATE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#667085;
          --line:#d9dde5; --sel:#2f6feb; --bad:#c4302b; --ok:#217a3c;
          --unsure:#a66a00; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; color:var(--ink);
         background:var(--bg); }
  header { padding:10px 16px; border-bottom:1px solid var(--line);
           background:var(--card); display:flex; gap:16px;
           align-items:baseline; flex-wrap:wrap; }
  header h1 { font-size:16px; margin:0; }
  header .muted, .muted { color:var(--muted); }
  main { display:grid; grid-template-columns:minmax(320px, 1fr) 560px;
         gap:16px; padding:16px; align-items:start; }
  #grid { display:grid; gap:10px;
          grid-template-columns:repeat(auto-fill, minmax(190px, 1fr)); }
  .clip-card { background:var(--card); border:2px solid var(--line);
               border-radius:8px; padding:6px; cursor:pointer;
               position:relative; }
  .clip-card.selected { border-color:var(--sel);
                        box-shadow:0 0 0 2px rgba(47,111,235,.25); }
  .thumb { width:100%; aspect-ratio:4/3; object-fit:cover; display:block;
           border-radius:4px; background:#e7e9ee; }
  .thumb.placeholder { display:flex; align-items:center;
                       justify-content:center; color:var(--muted);
                       font-size:12px; }
  .clip-card .label { font-weight:600; margin-top:4px; }
  .clip-card .line { font-size:12px; color:var(--muted);
                     overflow:hidden; text-overflow:ellipsis;
                     white-space:nowrap; direction:rtl; text-align:left; }
  .badge { position:absolute; top:10px; left:10px; padding:1px 6px;
           border-radius:10px; font-size:11px; color:#fff;
           background:var(--muted); }
  .badge.violating { background:var(--bad); }
  .badge.not_violating { background:var(--ok); }
  .badge.unsure { background:var(--unsure); }
  .badge.hash { left:auto; right:10px; background:#6b3fa0; }
  #detail { position:sticky; top:12px; background:var(--card);
            border:1px solid var(--line); border-radius:8px; padding:12px; }
  #detail h2 { font-size:15px; margin:0 0 4px; word-break:break-all; }
  video { width:100%; max-height:320px; background:#000; border-radius:4px; }
  .buttons { display:flex; gap:8px; margin:10px 0; flex-wrap:wrap; }
  .buttons button { font:inherit; padding:6px 10px; border-radius:6px;
                    border:1px solid var(--line); background:#fff;
                    cursor:pointer; }
  .buttons button.current { outline:2px solid var(--sel); }
  .buttons button kbd { font-size:11px; color:var(--muted); }
  #note { width:100%; font:inherit; padding:5px; border:1px solid var(--line);
          border-radius:6px; }
  #status { min-height:1.4em; font-size:13px; }
  #status.error { color:var(--bad); }
  table { border-collapse:collapse; width:100%; font-size:12px; }
  th, td { text-align:left; padding:3px 6px; border-bottom:1px solid var(--line); }
  .timeline svg { width:100%; height:auto; display:block; }
  .timeline .tl-clip { cursor:pointer; }
  .timeline .tl-clip.current rect { stroke:var(--sel); stroke-width:2; }
  section h3 { font-size:13px; margin:12px 0 4px; }
  #hash-section { margin-top:16px; }
  .help { font-size:12px; color:var(--muted); }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <span id="summary" class="muted"></span>
  <span class="help">j/k or ↓/↑ move · 1 violating · 2 not violating ·
    3 unsure · space play/pause · r replay · n note</span>
</header>
<main>
  <div>
    <div id="grid" aria-label="flagged clips"></div>
    <section id="hash-section" hidden>
      <h3>Known-content hash matches</h3>
      <table id="hash-table"><thead><tr><th>video</th><th>bank</th>
        <th>entry</th><th>label</th><th>query %</th><th>compared %</th>
        <th>frames</th><th>first</th><th>last</th><th>copy of</th></tr></thead>
        <tbody></tbody></table>
    </section>
  </div>
  <aside id="detail">
    <h2 id="detail-title">No clip selected</h2>
    <div id="detail-meta" class="muted"></div>
    <video id="player" controls preload="metadata" playsinline></video>
    <div id="player-note" class="muted"></div>
    <div class="buttons" id="verdict-buttons"></div>
    <input id="note" type="text" placeholder="note (optional): n to write, Esc when done">
    <div id="status" role="status"></div>
    <section class="timeline"><h3>Score timeline of this video</h3>
      <div id="timeline"></div></section>
    <section id="detail-hash" hidden><h3>Hash matches of this video</h3>
      <table><thead><tr><th>bank</th><th>entry</th><th>label</th>
        <th>query %</th><th>compared %</th><th>first–last</th><th>copy of</th></tr></thead>
        <tbody id="detail-hash-body"></tbody></table></section>
  </aside>
</main>
<script type="application/json" id="review-data">__REVIEW_DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById('review-data').textContent);
// The served page calls its API with the session token in a header (which
// no other site can add to a request without the server's consent).
const API_HEADERS = { 'X-Review-Token': DATA.token || '' };
function post(path, body) {
  return fetch(path, { method: 'POST', credentials: 'omit',
    headers: Object.assign({ 'Content-Type': 'application/json' }, API_HEADERS),
    body: JSON.stringify(body) });
}
const VERDICTS = DATA.verdict_choices;
const state = { index: -1, verdicts: DATA.verdicts || {}, playerSrc: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}
const seconds = (ms) => (ms / 1000).toFixed(1) + 's';
const score = (x) => (x === null || x === undefined) ? '' : Number(x).toFixed(3);
const basename = (uri) => uri.split('/').pop();

// A match of a bank entry made from a confirmed clip: "copy of clip X",
// a link that opens the clip when the page lists it.
function copyOfCell(m) {
  if (!m.source_clip_id) return el('td', {});
  const link = el('a', { class: 'copy-of', href: '#clip-' + m.source_clip_id,
    'data-clip-id': m.source_clip_id,
    title: m.source_video_uri ? m.source_video_uri + ' ' + seconds(m.source_start_ms) +
      '–' + seconds(m.source_end_ms) : 'the clip is not under this root',
    text: 'copy of clip ' + m.source_clip_id + (m.mirrored ? ' (mirrored)' : '') });
  link.addEventListener('click', (event) => {
    const index = DATA.clips.findIndex((c) => c.clip_id === m.source_clip_id);
    if (index >= 0) { event.preventDefault(); select(index); }
  });
  return el('td', {}, link);
}

function badgeFor(clipId) {
  const v = state.verdicts[clipId];
  if (!v) return null;
  const choice = VERDICTS.find((c) => c.value === v.verdict);
  return el('span', { class: 'badge ' + v.verdict,
                      text: choice ? choice.title : v.verdict });
}

function card(clip, index) {
  const thumb = clip.thumbnail
    ? el('img', { class: 'thumb', src: clip.thumbnail, alt: 'peak frame' })
    : el('div', { class: 'thumb placeholder', text: 'no thumbnail' });
  const node = el('div', { class: 'clip-card', 'data-clip-id': clip.clip_id,
                           'data-index': String(index) },
    thumb,
    el('div', { class: 'label', text: clip.label + '  ' + score(clip.peak_score) }),
    el('div', { class: 'line', text: seconds(clip.start_ms) + ' – ' +
                seconds(clip.end_ms) + ' · mean ' + score(clip.mean_score) }),
    el('div', { class: 'line', title: clip.video_uri, text: basename(clip.video_uri) }),
    el('div', { class: 'line', text: clip.model_version + ' · ' + clip.scan_id }));
  const badge = badgeFor(clip.clip_id);
  if (badge) node.append(badge);
  if ((DATA.videos[clip.video_key] || {}).hash_matches?.length) {
    node.append(el('span', { class: 'badge hash', text: 'hash match' }));
  }
  node.addEventListener('click', () => select(index));
  return node;
}

function renderGrid() {
  $('grid').replaceChildren(...DATA.clips.map(card));
  renderSummary();
}

function renderSummary() {
  const reviewed = DATA.clips.filter((c) => state.verdicts[c.clip_id]).length;
  $('summary').textContent = DATA.clips.length + ' clips · ' + reviewed +
    ' reviewed · ' + DATA.root + (DATA.mode === 'serve'
      ? ' · reviewer ' + DATA.reviewer : ' · read-only export');
}

function refreshCard(index) {
  const old = document.querySelector('.clip-card[data-index="' + index + '"]');
  const fresh = card(DATA.clips[index], index);
  if (index === state.index) fresh.classList.add('selected');
  old.replaceWith(fresh);
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function playRange(src, start, end) {
  const player = $('player');
  const base = src.split('#')[0];
  player.dataset.start = start;
  player.dataset.end = end;
  if (state.playerSrc !== base) {
    state.playerSrc = base;
    player.src = base + '#t=' + start.toFixed(3) + ',' + end.toFixed(3);
  } else {
    player.currentTime = start;
  }
}

function loadPlayer(clip) {
  const p = clip.player;
  $('player-note').textContent = p.note || '';
  if (p.kind === 'on_demand') {
    $('player-note').textContent = 'cutting the clip…';
    post('/api/extract', { scan_id: clip.scan_id, clip_id: clip.clip_id })
      .then((r) => r.ok ? r.json() : r.json().then((t) => Promise.reject(t.error),
                                                   () => Promise.reject(r.statusText)))
      .then((x) => { if (DATA.clips[state.index] === clip) {
        $('player-note').textContent = 'extract (' + x.method + ')';
        playRange(x.src, x.start_s, x.end_s); } })
      .catch((e) => { $('player-note').textContent = 'cannot cut the clip: ' + e; });
    return;
  }
  if (p.kind === 'none') {
    $('player').removeAttribute('src');
    state.playerSrc = null;
    return;
  }
  playRange(p.src, p.start_s, p.end_s);
}

function renderTimeline(clip) {
  const video = DATA.videos[clip.video_key] || {};
  const box = $('timeline');
  box.innerHTML = video.timeline_svg || '';  // trusted: rendered and escaped in Python
  for (const node of box.querySelectorAll('.tl-clip')) {
    node.classList.toggle('current', node.dataset.clipId === clip.clip_id);
    node.addEventListener('click', () => {
      const index = DATA.clips.findIndex((c) => c.clip_id === node.dataset.clipId);
      if (index >= 0) select(index);
    });
  }
  const body = $('detail-hash-body');
  const matches = video.hash_matches || [];
  body.replaceChildren(...matches.map((m) => el('tr', {},
    el('td', { text: m.bank }), el('td', { text: m.entry_id }),
    el('td', { text: m.label }), el('td', { text: m.query_match_pct.toFixed(1) }),
    el('td', { text: m.compared_match_pct.toFixed(1) }),
    el('td', { text: seconds(m.first_match_ms) + '–' + seconds(m.last_match_ms) }),
    copyOfCell(m))));
  $('detail-hash').hidden = matches.length === 0;
}

function renderVerdictButtons(clip) {
  const current = (state.verdicts[clip.clip_id] || {}).verdict;
  $('verdict-buttons').replaceChildren(...VERDICTS.map((choice) => {
    const button = el('button', { type: 'button', 'data-verdict': choice.value,
                                  class: choice.value === current ? 'current' : null },
      el('kbd', { text: choice.key }), ' ' + choice.title);
    button.disabled = DATA.mode !== 'serve';
    button.addEventListener('click', () => submitVerdict(choice.value));
    return button;
  }));
}

function select(index, options) {
  if (index < 0 || index >= DATA.clips.length) return;
  const previous = document.querySelector('.clip-card.selected');
  if (previous) previous.classList.remove('selected');
  state.index = index;
  const clip = DATA.clips[index];
  const node = document.querySelector('.clip-card[data-index="' + index + '"]');
  node.classList.add('selected');
  node.scrollIntoView({ block: 'nearest' });
  $('detail-title').textContent = clip.label + ' · ' + basename(clip.video_uri);
  $('detail-meta').textContent = seconds(clip.start_ms) + ' – ' +
    seconds(clip.end_ms) + ' · peak ' + score(clip.peak_score) + ' at ' +
    seconds(clip.peak_ms) + ' · mean ' + score(clip.mean_score) + ' · ' +
    clip.frames + ' samples · threshold ' + score(clip.threshold) + ' · ' +
    clip.model_name + ' ' + clip.model_version + ' · scan ' + clip.scan_id;
  $('note').value = (state.verdicts[clip.clip_id] || {}).note || '';
  renderVerdictButtons(clip);
  renderTimeline(clip);
  loadPlayer(clip);
}

async function submitVerdict(verdict) {
  const clip = DATA.clips[state.index];
  if (!clip) return;
  if (DATA.mode !== 'serve') {
    setStatus('read-only export: run "rescan report --serve" to record verdicts', true);
    return;
  }
  const index = state.index;
  try {
    const response = await post('/api/verdicts', {
      scan_id: clip.scan_id, clip_id: clip.clip_id, verdict: verdict,
      note: $('note').value || null });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    state.verdicts[clip.clip_id] = body.verdict;
    refreshCard(index);
    renderSummary();
    setStatus('recorded ' + verdict + ' for ' + clip.clip_id);
    document.body.dataset.lastVerdict = clip.clip_id + ':' + verdict;
    if (index + 1 < DATA.clips.length) select(index + 1);
    else select(index);
  } catch (error) {
    setStatus('could not record the verdict: ' + error.message, true);
  }
}

$('player').addEventListener('timeupdate', () => {
  const player = $('player');
  const end = Number(player.dataset.end);
  if (end && player.currentTime > end + 0.25 && !player.paused) player.pause();
});
$('player').addEventListener('error', () => {
  const clip = DATA.clips[state.index];
  if (!clip) return;
  if (DATA.mode === 'serve' && clip.player.kind === 'source') {
    clip.player = { kind: 'on_demand' };  // the browser cannot play the source
    loadPlayer(clip);
  } else {
    $('player-note').textContent = 'this browser cannot play the file; cut ' +
      'browser-playable clips with "rescan extract --transcode always"';
  }
});

document.addEventListener('keydown', (event) => {
  if (event.target.matches('input, textarea')) {
    if (event.key === 'Escape') event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const choice = VERDICTS.find((c) => c.key === event.key);
  const player = $('player');
  if (choice) submitVerdict(choice.value);
  else if (event.key === 'j' || event.key === 'ArrowDown') select(state.index + 1);
  else if (event.key === 'k' || event.key === 'ArrowUp') select(state.index - 1);
  else if (event.key === ' ') { player.paused ? player.play() : player.pause(); }
  else if (event.key === 'r') { player.currentTime = Number(player.dataset.start || 0); player.play(); }
  else if (event.key === 'n') { $('note').focus(); }
  else return;
  event.preventDefault();
});

function renderHashSection() {
  const rows = DATA.hash_matches || [];
  $('hash-section').hidden = rows.length === 0;
  document.querySelector('#hash-table tbody').replaceChildren(...rows.map((m) =>
    el('tr', {}, el('td', { title: m.video_uri, text: basename(m.video_uri) }),
      el('td', { text: m.bank }), el('td', { text: m.entry_id }),
      el('td', { text: m.label }), el('td', { text: m.query_match_pct.toFixed(1) }),
      el('td', { text: m.compared_match_pct.toFixed(1) }),
      el('td', { text: String(m.matched_frames) }),
      el('td', { text: seconds(m.first_match_ms) }),
      el('td', { text: seconds(m.last_match_ms) }), copyOfCell(m))));
}

async function start() {
  if (DATA.mode === 'serve') {
    try {
      const response = await fetch('/api/verdicts',
                                   { credentials: 'omit', headers: API_HEADERS });
      if (response.ok) state.verdicts = await response.json();
    } catch (error) { setStatus('could not load verdicts: ' + error.message, true); }
  }
  renderGrid();
  renderHashSection();
  if (DATA.clips.length) select(0);
  document.body.dataset.ready = 'true';
}
start();
</script>
</body>
</html>
"""
