// The dashboard page: it polls the dashboard's own read-only endpoints and
// renders them. Every value from the server is set as text, never as HTML.
'use strict';

const REFRESH_MS = 3000;
const SYNC_PORTS = '9400–9449';

let lastOK = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function dash(v) {
  return v === null || v === undefined || v === '' ? '–' : String(v);
}

async function fetchJSON(path) {
  const resp = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* reported below */ }
  if (!resp.ok) throw new Error((body && body.error) || 'HTTP ' + resp.status);
  if (body === null) throw new Error('answer of ' + path + ' is not JSON');
  return body;
}

function setLive(ok, detail) {
  const live = document.getElementById('live');
  const text = document.getElementById('live-text');
  if (ok) {
    lastOK = Date.now();
    live.dataset.state = 'live';
    text.textContent = 'Live · refreshes every ' + REFRESH_MS / 1000 + ' s';
  } else {
    live.dataset.state = 'offline';
    text.textContent = 'Not updating: ' + detail;
  }
}

function copyButton(command) {
  const b = el('button', { class: 'copy', type: 'button', text: 'Copy' });
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(command);
      b.textContent = 'Copied';
    } catch (_) {
      b.textContent = 'Select it';
    }
    setTimeout(() => { b.textContent = 'Copy'; }, 1500);
  });
  return b;
}

function renderStats(rep) {
  const d = rep.daemon || {};
  const orphans = rep.orphans || [];
  const others = (rep.other_listeners || []).filter((r) => !r.is_recorded_singleton);
  const stale = orphans.filter((r) => r.cleanup_class === 'safe_auto').length;
  const ops = orphans.length - stale;

  const daemon = document.getElementById('stat-daemon');
  let value = 'Not running';
  let hint = 'starts with the next sync command';
  daemon.dataset.tone = 'calm';
  const sy = rep.sync || {};
  if (d.active && sy.consecutive_failures > 0) {
    // Answering health is not working: nothing reaches the server.
    value = 'Uploads failing';
    hint = 'since ' + fullTime(sy.failing_since) + ' · ' + plural(sy.consecutive_failures, 'attempt') +
      ' · ' + (sy.queue_depth || 0) + ' queued';
    daemon.dataset.tone = 'bad';
  } else if (d.active) {
    value = 'Running';
    hint = 'pid ' + d.pid + ' · port ' + d.port + ' · v' + dash(d.package_version) +
      ' · ' + (sy.queue_depth || 0) + ' queued';
    daemon.dataset.tone = 'ok';
  } else if (d.pid !== null && d.pid !== undefined) {
    value = 'Unhealthy';
    hint = 'recorded pid ' + d.pid + ' on port ' + d.port + ' does not answer';
    daemon.dataset.tone = 'bad';
  }
  daemon.dataset.uploads = d.active ? (sy.consecutive_failures > 0 ? 'failing' : 'ok') : 'unknown';
  daemon.dataset.state = d.active ? 'active' : 'inactive';
  document.getElementById('stat-daemon-value').textContent = value;
  document.getElementById('stat-daemon-hint').textContent = hint;

  setStat('stat-stale', stale, stale > 0 ? 'warn' : 'ok');
  setStat('stat-ops', ops, ops > 0 ? 'bad' : 'ok');
  setStat('stat-other', others.length, 'calm');
}

function setStat(id, n, tone) {
  document.getElementById(id).dataset.tone = tone;
  document.getElementById(id + '-value').textContent = String(n);
}

function renderFindings(rep) {
  const list = document.getElementById('findings');
  const order = { error: 0, warning: 1, info: 2 };
  const findings = (rep.findings || []).slice().sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
  const items = findings.map((f) => {
    const cmd = (f.remediation && f.remediation.command) || '';
    return el('li', { class: 'finding', 'data-finding': f.id },
      el('span', { class: 'badge', 'data-severity': f.severity, text: f.severity }),
      el('p', { class: 'summary', text: f.summary }),
      cmd ? el('div', { class: 'command' }, el('span', { text: cmd }), copyButton(cmd)) : null);
  });
  if (items.length === 0) {
    items.push(el('li', { class: 'all-clear', text: 'All clear: nothing to clean, nothing to do.' }));
  }
  list.replaceChildren(...items);
}

// plural writes "1 event", "2 events".
function plural(n, noun) {
  return n + ' ' + noun + (n === 1 ? '' : 's');
}

// fullTime is a moment for a person: date, time and zone, so that a reader
// elsewhere, or tomorrow, is not misled.
function fullTime(iso) {
  if (!iso) return '–';
  const at = new Date(iso);
  if (isNaN(at)) return String(iso);
  return at.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  });
}

// lastSuccess says when the server last took a batch. A daemon only knows
// its own life, so "never" is said only when nothing was ever queued.
function lastSuccess(d, sy) {
  if (sy.last_success_at) return fullTime(sy.last_success_at);
  if (!d.active) return 'unknown: no daemon is running';
  if (!sy.last_sync && !(sy.queue_depth > 0)) return 'never: nothing to upload yet';
  return 'none since this daemon started';
}

function uploadState(d, sy) {
  if (!d.active) return 'unknown: no daemon is running';
  if (sy.consecutive_failures > 0) {
    return 'failing since ' + fullTime(sy.failing_since) + ' (' + plural(sy.consecutive_failures, 'attempt') + ')';
  }
  if (sy.uploading) return 'uploading now';
  return sy.last_success_at ? 'working' : 'idle';
}

function renderDaemon(rep) {
  const d = rep.daemon || {};
  const s = rep.session || {};
  const sy = rep.sync || {};
  let queued = plural(sy.queue_depth || 0, 'event') + ' waiting';
  if (sy.parked > 0) queued += ' (' + sy.parked + ' parked)';
  const parked = sy.parked > 0
    ? plural(sy.parked, 'event') + ' the server will not take, kept in the queue: spec-kitty sync parked'
    : 'none';
  const failing = d.active && sy.consecutive_failures > 0;
  let status = 'none recorded';
  if (failing) status = 'running, uploads failing';
  else if (d.active) status = 'running and healthy';
  else if (d.pid !== null && d.pid !== undefined) status = 'recorded but not healthy';
  const rows = [
    ['Status', status, 'status'],
    ['PID', dash(d.pid)],
    ['Port', dash(d.port)],
    ['Version', dash(d.package_version)],
    ['Protocol', dash(d.protocol_version)],
    ['Queue', queued, 'queue'],
    ['Parked', parked, 'parked'],
    ['Uploads', uploadState(d, sy), 'uploads'],
    ['Last success', lastSuccess(d, sy), 'last-success'],
    ['Last attempt', sy.last_sync ? fullTime(sy.last_sync) : (d.active ? 'none yet' : '–'), 'last-sync'],
    ['Consecutive failures', String(sy.consecutive_failures || 0), 'failures'],
    ['Last upload error', sy.last_error ? sy.last_error : 'none', 'last-error'],
    ['Scope', dash(rep.auth_root)],
    ['Log', dash(rep.log_path), 'log'],
    ['Session', s.present ? dash(s.auth_principal) + ' → ' + dash(s.server_url) : 'not logged in (events stay queued locally)'],
    ['Platform', rep.platform ? dash(rep.platform.os) + ', listener source ' + dash(rep.platform.listener_source) : '–'],
  ];
  const tones = {
    'status': failing ? 'bad' : null,
    'uploads': failing ? 'bad' : null,
    'failures': failing ? 'bad' : null,
    'last-error': sy.last_error ? 'bad' : null,
    'parked': sy.parked > 0 ? 'warn' : null,
  };
  const box = document.getElementById('daemon');
  box.dataset.state = d.active ? 'active' : 'inactive';
  box.replaceChildren(...factRows(rows, tones));
}

function factRows(rows, tones) {
  return rows.flatMap(([k, v, id]) => [
    el('dt', { text: k }),
    el('dd', { text: v, 'data-field': id, 'data-tone': (id && tones[id]) || null }),
  ]);
}

function renderProject(rep) {
  const p = rep.project || {};
  const rows = [
    ['Project', dash(p.slug || (p.uuid ? null : 'unknown')), 'slug'],
    ['UUID', dash(p.uuid), 'uuid'],
    ['Repository', dash(p.repo_slug), 'repo'],
    ['Directory', dash(p.path), 'path'],
    ['Queued events', p.uuid ? plural(p.queued || 0, 'event') + ' of this project waiting' : '–', 'queued'],
    ['Parked events', p.uuid ? (p.parked > 0 ? plural(p.parked, 'event') + ': spec-kitty sync parked' : 'none') : '–', 'parked'],
    ['Dashboard log', dash(p.log_path), 'log'],
  ];
  if (p.error) rows.push(['Problem', p.error, 'error']);
  const box = document.getElementById('project-facts');
  box.replaceChildren(...factRows(rows, { parked: p.parked > 0 ? 'warn' : null, error: p.error ? 'bad' : null }));
}

// What each reason code means, in a few words for a person.
const REASONS = {
  is_recorded_singleton: 'the daemon this scope uses',
  stale_version: 'another version than this CLI',
  stale_executable: 'started from another executable',
  duplicate_same_version: 'a second daemon of this version',
  pre_marker: 'started without a scope marker',
  cross_root: 'belongs to another runtime root',
  unresponsive: 'does not answer its health check',
  missing_pid: 'the owning process is unknown',
  pid_port_mismatch: 'its health names another process',
  dashboard_family: 'a dashboard, not a sync daemon',
  third_party: 'not a Spec Kitty daemon',
  not_spec_kitty: 'does not speak Spec Kitty HTTP',
  out_of_range: 'outside the sync port range',
};

function reasonCell(r) {
  const code = r.reason || r.skip_reason || '';
  const td = el('td', {}, el('span', { class: 'code', text: dash(code) }));
  if (REASONS[code]) td.append(el('span', { class: 'explain', text: REASONS[code] }));
  return td;
}

function scopeCell(r, rep) {
  const id = r.singleton_scope_id;
  if (id && id === rep.auth_root) return el('td', { class: 'scope mine', title: id, text: 'this scope' });
  if (id) return el('td', { class: 'path', title: id, text: id });
  if (r.daemon_family === 'dashboard') return el('td', { class: 'scope', text: 'dashboard family' });
  if (r.daemon_family === 'sync') return el('td', { class: 'scope', text: 'no scope marker' });
  return el('td', { class: 'scope', text: '–' });
}

function classLabel(r) {
  return r.is_recorded_singleton ? 'live' : r.cleanup_class;
}

// COLUMNS label each cell, so that a narrow window can show a row as a
// card of labelled lines instead of a table wider than the screen.
const COLUMNS = ['Port', 'PID', 'Version', 'Class', 'Reason', 'Scope', 'Executable'];

function labelled(cells) {
  cells.forEach((td, i) => td.setAttribute('data-label', COLUMNS[i]));
  return cells;
}

function renderListeners(rep) {
  const all = [...(rep.orphans || []), ...(rep.other_listeners || [])].sort((a, b) => a.port - b.port);
  const body = document.getElementById('listeners');
  const rows = all.map((r) => {
    const cls = classLabel(r);
    return el('tr', {
      'data-port': r.port,
      'data-pid': r.pid,
      'data-class': r.cleanup_class,
      'data-live': r.is_recorded_singleton ? 'true' : null,
    },
    ...labelled([
      el('td', { class: 'num', text: r.port }),
      el('td', { class: 'num', text: dash(r.pid) }),
      el('td', { text: dash(r.package_version) }),
      el('td', {}, el('span', { class: 'badge', 'data-class': cls, text: cls })),
      reasonCell(r),
      scopeCell(r, rep),
      el('td', { class: 'path', text: dash(r.executable_summary) })]));
  });
  if (rows.length === 0) {
    rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 7, text: 'Nothing listens on ports ' + SYNC_PORTS + '.' })));
  }
  body.replaceChildren(...rows);
  const n = all.length;
  document.getElementById('listeners-summary').textContent =
    n === 0 ? 'none' : plural(n, 'listener') + ', classified exactly as auth doctor does';
}

function render(health, rep) {
  const project = document.getElementById('project');
  project.textContent = health.project_path;
  project.title = health.project_path;
  const name = health.project_path.split(/[\\/]/).filter(Boolean).pop() || health.project_path;
  document.title = name + ' · Spec Kitty dashboard';
  renderStats(rep);
  renderFindings(rep);
  renderProject(rep);
  renderDaemon(rep);
  renderListeners(rep);
  document.getElementById('generated').textContent = 'Scanned ' + fullTime(rep.generated_at) + ' · read-only';
  document.getElementById('logs').textContent = 'sync log ' + dash(rep.log_path);
  const o = health.owner || {};
  document.getElementById('self').textContent =
    'dashboard pid ' + dash(o.pid) + ' on port ' + dash(o.port) + ' · spec-kitty ' + dash(health.package_version);
}

async function refresh() {
  try {
    const [health, rep] = await Promise.all([fetchJSON('/api/health'), fetchJSON('/api/sync-overview')]);
    render(health, rep);
    setLive(true);
  } catch (e) {
    setLive(false, lastOK ? e.message : 'dashboard not reachable (' + e.message + ')');
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
