"""The review page's HTML, CSS and JavaScript, as one template string.

``review_report.render_page`` fills in ``__TITLE__`` (HTML-escaped) and
``__REVIEW_DATA__`` (the page model as JSON, with ``<`` escaped so it can
never close the script element).  The page builds its DOM from that data
with ``textContent`` only; the one piece of trusted markup is each video's
timeline SVG, rendered and escaped in Python.

Audio clips (``modality`` ``audio``) carry an "AUDIO" badge and play with
their sound (the player is unmuted for them; served and extracted copies
keep the soundtrack as AAC, ``pipeline.review.extract``); visual clips
keep the player as it was.  The timeline SVG draws the audio model's
curves and clips dashed.

Keys: ``j``/``k`` (or arrows) move between clips, ``1`` violating, ``2`` not
violating, ``3`` unsure, ``space`` play/pause, ``r`` replay the clip,
``n`` write a note.

Served, the page carries the session token (``DATA.token``): media URLs
have it as ``?token=``, API calls send it as ``X-Review-Token``, writes
are JSON ``POST``s.

The queue: the toolbar's filters (label, score range, verdict state,
unreviewed only, reviewers disagree, video) and sort ask for one page of
clips at a time: served, from ``GET /api/clips`` (``ReviewApp.queue``);
exported, from the clips embedded in ``DATA.clips`` (``localPage``, the
same rules in the browser).  ``j`` on a page's last clip opens the next
page.  Each clip's card shows its outcome and flags a dispute; the detail
panel shows its verdict history.  Verdicts are recorded as the server
session's reviewer (``--reviewer``), which the page shows but cannot
change.
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
  main { display:grid; gap:16px; padding:16px; align-items:start;
         grid-template-columns:minmax(0, 1fr) minmax(280px, min(42%, 560px)); }
  @media (max-width: 640px) {
    main { grid-template-columns:minmax(0, 1fr); }
    #detail { position:static; }
  }
  .toolbar { display:flex; flex-wrap:wrap; gap:6px 12px; align-items:center;
             padding:8px 16px; background:var(--card);
             border-bottom:1px solid var(--line); font-size:13px; }
  .toolbar label { display:inline-flex; gap:4px; align-items:center; }
  .toolbar input[type=number] { width:4.5em; }
  .toolbar input[type=search] { width:11em; }
  .toolbar select, .toolbar input { font:inherit; }
  .pager { display:flex; flex-wrap:wrap; gap:8px; align-items:center;
           margin:0 0 10px; font-size:13px; }
  .pager button { font:inherit; padding:2px 8px; }
  #counter { font-weight:600; }
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
  .badge.disputed { background:#6b3fa0; }
  .badge.dispute { top:auto; bottom:10px; left:auto; right:10px;
                   background:#b42318; }
  .badge.hash { left:auto; right:10px; background:#6b3fa0; }
  .badge.audio { position:static; display:inline-block; margin-left:6px;
                 vertical-align:1px; background:#0e7490; font-weight:600;
                 letter-spacing:.04em; }
  .clip-card.audio { border-style:dashed; }
  #detail { position:sticky; top:12px; background:var(--card);
            border:1px solid var(--line); border-radius:8px; padding:12px;
            min-width:0; }
  #outcome.disputed { color:var(--bad); font-weight:600; }
  .scroll-x { overflow-x:auto; max-width:100%; }
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
<form class="toolbar" id="filters" autocomplete="off">
  <label>label <select id="f-label"><option value="">any</option></select></label>
  <label>heard or seen <select id="f-modality"><option value="">both</option>
    <option value="visual">visual</option><option value="audio">audio</option></select></label>
  <label>score <input id="f-min" type="number" min="0" max="1" step="0.01"
    placeholder="min"> – <input id="f-max" type="number" min="0" max="1"
    step="0.01" placeholder="max"></label>
  <label>verdict <select id="f-outcome"><option value="">any</option></select></label>
  <label><input id="f-unreviewed" type="checkbox"> unreviewed only</label>
  <label><input id="f-disputed" type="checkbox"> reviewers disagree</label>
  <label>video <input id="f-video" type="search" placeholder="id or part of its name"></label>
  <label>sort <select id="f-sort"></select></label>
  <label>per page <select id="f-limit"></select></label>
</form>
<main>
  <div>
    <div class="pager"><button type="button" id="prev-page">← prev</button>
      <span id="range" role="status"></span>
      <button type="button" id="next-page">next →</button>
      <span id="counter"></span></div>
    <div id="grid" aria-label="flagged clips"></div>
    <section id="hash-section" hidden>
      <h3 id="hash-title">Known-content hash matches</h3>
      <div class="scroll-x"><table id="hash-table"><thead><tr><th>video</th><th>bank</th>
        <th>entry</th><th>label</th><th>query %</th><th>compared %</th>
        <th>frames</th><th>first</th><th>last</th><th>copy of</th></tr></thead>
        <tbody></tbody></table></div>
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
    <section><h3>Verdicts <span id="outcome"></span></h3>
      <div class="scroll-x"><table><thead><tr><th>when</th><th>reviewer</th><th>verdict</th>
        <th>note</th></tr></thead><tbody id="history"></tbody></table></div>
    </section>
    <section class="timeline"><h3>Score timeline of this video</h3>
      <div id="timeline"></div></section>
    <section id="detail-hash" hidden><h3>Hash matches of this video</h3>
      <div class="scroll-x"><table><thead><tr><th>bank</th><th>entry</th><th>label</th>
        <th>query %</th><th>compared %</th><th>first–last</th><th>copy of</th></tr></thead>
        <tbody id="detail-hash-body"></tbody></table></div></section>
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
const OUTCOME_TITLES = Object.assign({ disputed: 'disputed (tie)' },
  ...VERDICTS.map((c) => ({ [c.value]: c.title })));
const SORT_TITLES = { score: 'score', time: 'newest scan', video: 'video' };
// ``clips``: the page shown; ``index``: the selected one in it;
// ``page``: the counts of the last answer; ``left``: clips of this page
// that no longer pass the verdict-state filters (paging skips none).
const state = { index: -1, clips: [], page: null, query: null, left: 0,
                playerSrc: null, loading: 0 };
const $ = (id) => document.getElementById(id);
const number = (n) => Number(n).toLocaleString('en-US');

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
const when = (iso) => iso ? iso.replace('T', ' ').slice(0, 19) : '';

// --- the queue: filters, sort and paging ---

function readQuery() {
  const value = (id) => $(id).value.trim();
  const q = { sort: value('f-sort') || 'score',
              limit: Number(value('f-limit')) || DATA.page_size, offset: 0 };
  if (value('f-label')) q.label = value('f-label');
  if (value('f-modality')) q.modality = value('f-modality');
  if (value('f-min')) q.min_score = Number(value('f-min'));
  if (value('f-max')) q.max_score = Number(value('f-max'));
  if (value('f-outcome')) q.outcome = value('f-outcome');
  if ($('f-unreviewed').checked) q.unreviewed = true;
  if ($('f-disputed').checked) q.disputed = true;
  if (value('f-video')) q.video = value('f-video');
  return q;
}

function passesState(clip, q) {
  if (q.unreviewed && clip.outcome) return false;
  if (q.outcome && clip.outcome !== q.outcome) return false;
  if (q.disputed && !(clip.distinct_verdicts > 1)) return false;
  return true;
}

// The static export's queue: the served page's rules (pipeline.review.queue)
// over the clips embedded in the page.
function localPage(q) {
  const video = (q.video || '').toLowerCase();
  const matching = DATA.clips.filter((c) =>
    (q.label === undefined || c.label === q.label) &&
    (q.modality === undefined || c.modality === q.modality) &&
    (q.min_score === undefined || c.peak_score >= q.min_score) &&
    (q.max_score === undefined || c.peak_score <= q.max_score) &&
    (!video || c.video_id === q.video ||
     c.video_uri.toLowerCase().includes(video)));
  const rows = matching.filter((c) => passesState(c, q));
  const order = DATA.sorts[q.sort];  // pipeline.review.queue.SORTS
  rows.sort((a, b) => {
    for (const [key, dir] of order) {
      if (a[key] < b[key]) return -dir;
      if (a[key] > b[key]) return dir;
    }
    return 0;
  });
  return { clips: rows.slice(q.offset, q.offset + q.limit), videos: {},
           total: rows.length, matching: matching.length,
           reviewed: matching.filter((c) => c.outcome).length,
           disputes: matching.filter((c) => c.distinct_verdicts > 1).length,
           offset: q.offset, limit: q.limit };
}

async function fetchPage(q) {
  if (DATA.mode !== 'serve') return localPage(q);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(q)) params.set(key, String(value));
  const response = await fetch('/api/clips?' + params.toString(),
                               { credentials: 'omit', headers: API_HEADERS });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// Loads the page of ``q`` and selects its clip ``select`` ('last': the last).
async function loadPage(q, selectIndex, keyTime) {
  const ticket = ++state.loading;
  document.body.dataset.loading = 'true';
  let page;
  try {
    page = await fetchPage(q);
  } catch (error) {
    setStatus('could not load clips: ' + error.message, true);
    delete document.body.dataset.loading;
    return;
  }
  if (ticket !== state.loading) return;  // a newer request won
  Object.assign(DATA.videos, page.videos);
  state.query = q;
  state.page = page;
  state.clips = page.clips;
  state.left = 0;
  state.index = -1;
  renderGrid();
  const index = selectIndex === 'last' ? state.clips.length - 1 : (selectIndex || 0);
  if (state.clips.length) select(index, keyTime);
  else clearDetail();
  delete document.body.dataset.loading;
}

function nextOffset() {
  return state.query.offset + state.clips.length - state.left;
}
function hasNext() {
  return state.page && nextOffset() < state.page.total - state.left;
}
function nextPage(keyTime) {
  if (hasNext()) {
    loadPage(Object.assign({}, state.query, { offset: nextOffset() }), 0, keyTime);
  }
}
function previousPage(selectIndex, keyTime) {
  if (!state.query || state.query.offset === 0) return;
  loadPage(Object.assign({}, state.query, {
    offset: Math.max(state.query.offset - state.query.limit, 0) }), selectIndex,
    keyTime);
}

let filterTimer = null;
function filtersChanged(delayMs) {
  clearTimeout(filterTimer);
  document.body.dataset.loading = 'true';  // until the page asked for is shown
  filterTimer = setTimeout(() => loadPage(readQuery(), 0), delayMs || 0);
}

function setUpToolbar() {
  $('f-label').append(...DATA.labels.map((l) => el('option', { value: l, text: l })));
  $('f-outcome').append(...DATA.outcome_choices.map((o) =>
    el('option', { value: o, text: OUTCOME_TITLES[o] || o })));
  $('f-sort').append(...Object.keys(DATA.sorts).map((o) =>
    el('option', { value: o, text: SORT_TITLES[o] || o })));
  $('f-limit').append(...DATA.page_sizes.map((n) =>
    el('option', { value: String(n), text: String(n) })));
  $('f-limit').value = String(DATA.page_size);
  for (const id of ['f-label', 'f-modality', 'f-outcome', 'f-sort', 'f-limit', 'f-unreviewed',
                    'f-disputed']) {
    // The keys go back to the queue once a choice is made.
    $(id).addEventListener('change', () => { $(id).blur(); filtersChanged(0); });
  }
  for (const id of ['f-min', 'f-max', 'f-video']) {
    $(id).addEventListener('input', () => filtersChanged(300));
  }
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    filtersChanged(0);
  });
  $('prev-page').addEventListener('click', () => previousPage(0));
  $('next-page').addEventListener('click', () => nextPage());
}

// --- cards and the summary ---

// A match of a bank entry made from a confirmed clip: "copy of clip X",
// a link that opens the clip when the current page lists it.
function copyOfCell(m) {
  if (!m.source_clip_id) return el('td', {});
  const link = el('a', { class: 'copy-of', href: '#clip-' + m.source_clip_id,
    'data-clip-id': m.source_clip_id,
    title: m.source_video_uri ? m.source_video_uri + ' ' + seconds(m.source_start_ms) +
      '–' + seconds(m.source_end_ms) : 'the clip is not under this root',
    text: 'copy of clip ' + m.source_clip_id + (m.mirrored ? ' (mirrored)' : '') });
  link.addEventListener('click', (event) => {
    const index = state.clips.findIndex((c) => c.clip_id === m.source_clip_id);
    if (index >= 0) { event.preventDefault(); select(index); }
  });
  return el('td', {}, link);
}

function badgeFor(clip) {
  if (!clip.outcome) return null;
  return el('span', { class: 'badge ' + clip.outcome,
                      text: OUTCOME_TITLES[clip.outcome] || clip.outcome });
}

const isAudio = (clip) => clip.modality === 'audio';

function card(clip, index) {
  const thumb = clip.thumbnail
    ? el('img', { class: 'thumb', src: clip.thumbnail, alt: 'peak frame' })
    : el('div', { class: 'thumb placeholder', text: 'no thumbnail' });
  const node = el('div', { class: 'clip-card' + (isAudio(clip) ? ' audio' : ''),
                           'data-clip-id': clip.clip_id,
                           'data-scan-id': clip.scan_id,
                           'data-modality': clip.modality || 'visual',
                           'data-index': String(index) },
    thumb,
    el('div', { class: 'label', text: clip.label + '  ' + score(clip.peak_score) }),
    el('div', { class: 'line', text: seconds(clip.start_ms) + ' – ' +
                seconds(clip.end_ms) + ' · mean ' + score(clip.mean_score) }),
    el('div', { class: 'line', title: clip.video_uri, text: basename(clip.video_uri) }),
    el('div', { class: 'line', text: clip.model_version + ' · ' + clip.scan_id }));
  const badge = badgeFor(clip);
  if (badge) node.append(badge);
  if (isAudio(clip)) {
    node.querySelector('.label').append(el('span', { class: 'badge audio', role: 'img',
      'aria-label': 'audio clip: flagged by the audio model from the soundtrack',
      title: 'flagged from the soundtrack (audio model); plays with sound',
      text: '♪ AUDIO' }));
  }
  if (clip.distinct_verdicts > 1) {
    node.classList.add('disputed');
    node.append(el('span', { class: 'badge dispute', title: 'reviewers disagree',
                             text: '⚑ ' + clip.reviewers + ' disagree' }));
  } else if ((DATA.videos[clip.video_key] || {}).hash_matches?.length) {
    node.append(el('span', { class: 'badge hash', text: 'hash match' }));
  }
  node.addEventListener('click', () => select(index));
  return node;
}

function renderGrid() {
  $('grid').replaceChildren(...state.clips.map(card));
  renderSummary();
}

function renderSummary() {
  const page = state.page;
  const first = page.total ? state.query.offset + 1 : 0;
  const last = state.query.offset + state.clips.length;
  $('range').textContent = 'clips ' + number(first) + '–' + number(last) +
    ' of ' + number(page.total);
  $('counter').textContent = 'reviewed ' + number(page.reviewed) + ' of ' +
    number(page.matching) + (page.disputes ? ' · ' + number(page.disputes) +
    ' disputed' : '');
  $('prev-page').disabled = state.query.offset === 0;
  $('next-page').disabled = !hasNext();
  const scope = DATA.mode === 'serve' ? ' · reviewer ' + DATA.reviewer
    : ' · read-only export of the top ' + number(DATA.clips.length) + ' of ' +
      number(DATA.total_clips) + ' clips';
  $('summary').textContent = DATA.root + scope;
  document.body.dataset.total = String(page.total);
}

function refreshCard(index) {
  const old = document.querySelector('.clip-card[data-index="' + index + '"]');
  const fresh = card(state.clips[index], index);
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
  // An audio clip is judged by ear: never muted.
  if (isAudio(clip)) $('player').muted = false;
  $('player').dataset.modality = clip.modality || 'visual';
  $('player-note').textContent = p.note || '';
  if (p.kind === 'on_demand') {
    $('player-note').textContent = 'cutting a browser-playable (H.264) clip…';
    post('/api/extract', { scan_id: clip.scan_id, clip_id: clip.clip_id })
      .then((r) => r.ok ? r.json() : r.json().then((t) => Promise.reject(t.error),
                                                   () => Promise.reject(r.statusText)))
      .then((x) => { if (state.clips[state.index] === clip) {
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
      const index = state.clips.findIndex((c) => c.clip_id === node.dataset.clipId);
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
  const mine = [...clip.history].reverse().find((h) => h.reviewer === DATA.reviewer);
  const current = (mine || {}).verdict;
  $('verdict-buttons').replaceChildren(...VERDICTS.map((choice) => {
    const button = el('button', { type: 'button', 'data-verdict': choice.value,
                                  class: choice.value === current ? 'current' : null },
      el('kbd', { text: choice.key }), ' ' + choice.title);
    button.disabled = DATA.mode !== 'serve';
    button.addEventListener('click', () => submitVerdict(choice.value));
    return button;
  }));
}

function renderHistory(clip) {
  const outcome = $('outcome');
  outcome.textContent = clip.outcome
    ? '· outcome ' + (OUTCOME_TITLES[clip.outcome] || clip.outcome) + ' (' +
      clip.reviewers + ' reviewer' + (clip.reviewers === 1 ? '' : 's') + ')' +
      (clip.distinct_verdicts > 1 ? ' · reviewers disagree' : '')
    : '· unreviewed';
  outcome.className = clip.distinct_verdicts > 1 ? 'disputed' : '';
  $('history').replaceChildren(...clip.history.map((h) => el('tr', {},
    el('td', { text: when(h.reviewed_at) }), el('td', { text: h.reviewer }),
    el('td', { text: OUTCOME_TITLES[h.verdict] || h.verdict }),
    el('td', { text: h.note || '' }))));
}

function clearDetail() {
  $('detail-title').textContent = 'No clip matches';
  $('detail-meta').textContent = '';
  $('history').replaceChildren();
  $('outcome').textContent = '';
  $('verdict-buttons').replaceChildren();
  $('timeline').replaceChildren();
  $('player').removeAttribute('src');
  state.playerSrc = null;
}

function select(index, keyTime) {
  if (index < 0 || index >= state.clips.length) return;
  const previous = document.querySelector('.clip-card.selected');
  if (previous) previous.classList.remove('selected');
  state.index = index;
  const clip = state.clips[index];
  const node = document.querySelector('.clip-card[data-index="' + index + '"]');
  node.classList.add('selected');
  node.scrollIntoView({ block: 'nearest' });
  $('detail-title').textContent = clip.label + (isAudio(clip) ? ' (audio)' : '') +
    ' · ' + basename(clip.video_uri);
  $('detail-meta').textContent = seconds(clip.start_ms) + ' – ' +
    seconds(clip.end_ms) + ' · peak ' + score(clip.peak_score) + ' at ' +
    seconds(clip.peak_ms) + ' · mean ' + score(clip.mean_score) + ' · ' +
    clip.frames + (isAudio(clip) ? ' audio windows' : ' samples') +
    ' · threshold ' + score(clip.threshold) + ' · ' +
    clip.model_name + ' ' + clip.model_version + ' · scan ' + clip.scan_id;
  $('note').value = '';
  renderVerdictButtons(clip);
  renderHistory(clip);
  renderTimeline(clip);
  loadPlayer(clip);
  document.body.dataset.selected = clip.scan_id + '/' + clip.clip_id;
  if (keyTime !== undefined) {
    // Time from the key press to the next frame painted with the clip shown.
    requestAnimationFrame(() => setTimeout(() => {
      document.body.dataset.keyToPaintMs = String(performance.now() - keyTime);
    }, 0));
  }
}

function move(step, keyTime) {
  const index = state.index + step;
  if (index >= state.clips.length) { nextPage(keyTime); return; }
  if (index < 0) { previousPage('last', keyTime); return; }
  select(index, keyTime);
}

async function submitVerdict(verdict, keyTime) {
  const clip = state.clips[state.index];
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
    const passed = passesState(clip, state.query);
    if (!clip.outcome && body.clip.outcome) state.page.reviewed += 1;
    if (!(clip.distinct_verdicts > 1) && body.clip.distinct_verdicts > 1) state.page.disputes += 1;
    if ((clip.distinct_verdicts > 1) && !(body.clip.distinct_verdicts > 1)) state.page.disputes -= 1;
    // Every clip of this id (a video scanned by two scans) has this history.
    for (const other of state.clips) {
      if (other.clip_id === clip.clip_id) Object.assign(other, body.clip);
    }
    if (passed && !passesState(clip, state.query)) state.left += 1;
    state.clips.forEach((c, i) => { if (c.clip_id === clip.clip_id) refreshCard(i); });
    renderSummary();
    setStatus('recorded ' + verdict + ' for ' + clip.clip_id + ' as ' + DATA.reviewer);
    document.body.dataset.lastVerdict = clip.clip_id + ':' + verdict;
    if (index + 1 < state.clips.length) select(index + 1, keyTime);
    else if (hasNext()) nextPage(keyTime);
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
  const clip = state.clips[state.index];
  if (!clip) return;
  if (DATA.mode === 'serve' && (clip.player.kind === 'source' ||
                                clip.player.kind === 'extract')) {
    clip.player = { kind: 'on_demand' };  // the browser cannot play it
    loadPlayer(clip);
  } else {
    $('player-note').textContent = 'this browser cannot play the file; cut ' +
      'browser-playable clips with "rescan extract --transcode always"';
  }
});

document.addEventListener('keydown', (event) => {
  if (event.target.matches('input, textarea, select')) {
    if (event.key === 'Escape') event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const choice = VERDICTS.find((c) => c.key === event.key);
  const player = $('player');
  if (choice) submitVerdict(choice.value, event.timeStamp);
  else if (event.key === 'j' || event.key === 'ArrowDown') move(1, event.timeStamp);
  else if (event.key === 'k' || event.key === 'ArrowUp') move(-1, event.timeStamp);
  else if (event.key === ' ') { player.paused ? player.play() : player.pause(); }
  else if (event.key === 'r') { player.currentTime = Number(player.dataset.start || 0); player.play(); }
  else if (event.key === 'n') { $('note').focus(); }
  else return;
  event.preventDefault();
});

function renderHashSection() {
  const rows = DATA.hash_matches || [];
  $('hash-section').hidden = rows.length === 0;
  $('hash-title').textContent = 'Known-content hash matches (strongest ' +
    number(rows.length) + ' of ' + number(DATA.hash_matches_total) + ')';
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
  setUpToolbar();
  renderHashSection();
  await loadPage(readQuery(), 0);
  // Milliseconds from navigation to the first page shown (benchmarks).
  document.body.dataset.readyMs = String(performance.now());
  document.body.dataset.ready = 'true';
}
start();
</script>
</body>
</html>
"""
