// pg-replicator dashboard: polls ./status every second and draws it. No
// framework, no build step. Every server-provided text goes through
// textContent, never innerHTML (error messages can quote row values).

const POLL_MS = 1000;
const CHART_WINDOW_MS = 5 * 60_000;
const RATE_WINDOW_MS = 10_000;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat();
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** Samples for the charts: { t, lagMs, rate }. */
let samples = [];
/** records_replicated over time, for throughput: { t, records }. */
let counts = [];
let startedAt = null;
let lastSyncTime;
let lastStatus = null;

function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 10) return `${oneDecimal.format(ms)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${oneDecimal.format(ms / 1000)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function formatRate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '–';
  return perSecond < 10 ? oneDecimal.format(perSecond) : numbers.format(Math.round(perSecond));
}

/** Retained WAL past this is shown as a warning (set max_slot_wal_keep_size well above it). */
const RETAINED_WAL_WARN_BYTES = 1024 ** 3;

function formatBytes(bytes) {
  if (bytes < 1024 ** 2) return { value: oneDecimal.format(bytes / 1024), unit: 'kB' };
  if (bytes < 1024 ** 3) return { value: oneDecimal.format(bytes / 1024 ** 2), unit: 'MB' };
  return { value: oneDecimal.format(bytes / 1024 ** 3), unit: 'GB' };
}

/** Logical mode: the Backlog card shows the WAL the slot holds on the primary instead. */
function renderRetainedWal(status) {
  if (status.capture_mode !== 'logical') return;
  setText('backlog-title', 'Retained WAL');
  const bytes = status.retained_wal_bytes;
  const shown = typeof bytes === 'number' ? formatBytes(bytes) : { value: '–', unit: '' };
  setText('backlog', shown.value);
  setText('backlog-unit', shown.unit);
  const warn = typeof bytes === 'number' && bytes > RETAINED_WAL_WARN_BYTES;
  setText('backlog-note', warn ? 'the slot holds over 1 GB: is the replicator keeping up?' : 'held on the primary by the slot');
  $('backlog').parentElement.style.color = warn ? 'var(--warn)' : '';
}

function ago(iso, now) {
  if (!iso) return 'never';
  const ms = Math.max(0, now - Date.parse(iso));
  if (ms < 1500) return 'just now';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return new Date(iso).toLocaleString();
}

function setText(id, text, title) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
  if (title !== undefined) el.title = title;
}

/** Changes per second over the last RATE_WINDOW_MS, from records_replicated deltas. */
function throughput(now) {
  const recent = counts.filter((c) => c.t >= now - RATE_WINDOW_MS);
  const first = recent[0];
  const last = recent[recent.length - 1];
  if (!first || !last || last.t - first.t < 500) return null;
  return (last.records - first.records) / ((last.t - first.t) / 1000);
}

function record(status, now) {
  if (status.started_at !== startedAt) {
    // A new replicator process: its counters started again from zero.
    startedAt = status.started_at;
    samples = [];
    counts = [];
    lastSyncTime = undefined;
  }
  // lag_ms drops to 0 as soon as the loop is caught up, so between two polls
  // it is nearly always 0: chart the lag of the batches committed since.
  const newBatch = lastSyncTime !== undefined && status.last_sync_time !== lastSyncTime;
  lastSyncTime = status.last_sync_time;
  const lagMs = newBatch ? Math.max(status.lag_ms ?? 0, status.last_batch_lag_ms ?? 0) : status.lag_ms;
  counts.push({ t: now, records: status.records_replicated });
  counts = counts.filter((c) => c.t >= now - RATE_WINDOW_MS - POLL_MS);
  samples.push({ t: now, lagMs, rate: throughput(now) });
  samples = samples.filter((s) => s.t >= now - CHART_WINDOW_MS);
}

function render(status, now) {
  record(status, now);
  lastStatus = status;
  document.body.dataset.stale = 'false';

  // Running, but continuous verification found rows that differ: /health says "degraded" too.
  const diverged = (status.verify?.tables ?? []).filter((t) => t.divergent_rows > 0);
  const shown = status.state === 'running' && diverged.length > 0 ? 'degraded' : status.state;
  const state = $('state');
  state.dataset.state = shown;
  setText('state', shown);
  document.title = shown === 'running' ? 'pg-replicator' : `pg-replicator · ${shown}`;

  const failing = status.state === 'failing' && status.last_error;
  $('error').hidden = !failing;
  if (failing) {
    setText('error-title', 'Replication is failing');
    setText('error-code', status.last_error_code ?? 'ERROR');
    $('error-code').hidden = false;
    setText('error-time', `since ${ago(status.last_error_time, now)} · ${numbers.format(status.error_count)} attempt(s)`);
    setText('error-message', status.last_error);
    $('error-hint').hidden = false;
  }

  setText('lag', formatDuration(status.lag_ms));
  let lagNote = 'oldest change of the last batch';
  if (status.state === 'failing' && status.last_sync_time) lagNote = `as of the last batch, ${ago(status.last_sync_time, now)}`;
  else if (status.lag_ms === 0 && typeof status.last_batch_lag_ms === 'number')
    lagNote = `caught up · last batch ${formatDuration(status.last_batch_lag_ms)}`;
  else if (status.lag_ms === 0) lagNote = 'caught up';
  setText('lag-note', lagNote);
  setText('throughput', formatRate(throughput(now)));
  setText('backlog', status.backlog === null ? '–' : numbers.format(status.backlog));
  renderRetainedWal(status);
  setText('records', numbers.format(status.records_replicated));
  setText('batches', `in ${numbers.format(status.batches)} batch${status.batches === 1 ? '' : 'es'} since start`);

  renderTables(status, now);
  renderDivergence(diverged);
  renderVerify(status.verify, now);
  renderCopy(status.initial_copy);
  renderDetails(status, now);
  drawCharts();
  setText('updated', new Date(now).toLocaleTimeString());
}

function renderTables(status, now) {
  const rows = status.tables.map((t) => {
    const tr = document.createElement('tr');
    tr.dataset.table = t.table;
    const name = document.createElement('td');
    name.textContent = t.table;
    const changes = document.createElement('td');
    changes.className = 'num';
    changes.textContent = numbers.format(t.changes_replicated);
    const lastChange = document.createElement('td');
    lastChange.className = 'num';
    lastChange.textContent = ago(t.last_change_time, now);
    if (t.last_change_time) lastChange.title = new Date(t.last_change_time).toLocaleString();
    tr.append(name, changes, lastChange);
    return tr;
  });
  $('tables').tBodies[0].replaceChildren(...rows);
  $('tables-empty').hidden = rows.length > 0;
}

const KIND_LABELS = { missing: 'missing on the replica', extra: 'extra on the replica', different: 'different' };

function renderDivergence(diverged) {
  $('divergence').hidden = diverged.length === 0;
  if (diverged.length === 0) return;
  const total = diverged.reduce((n, t) => n + t.divergent_rows, 0);
  const more = diverged.some((t) => t.divergent_truncated) ? '+' : '';
  setText(
    'divergence-title',
    `Replica differs from primary: ${numbers.format(total)}${more} row${total === 1 && !more ? '' : 's'}`,
  );
  const items = [];
  for (const t of diverged) {
    for (const d of t.divergent) {
      const li = document.createElement('li');
      li.dataset.table = t.table;
      li.textContent = `${t.table} ${d.key}: ${KIND_LABELS[d.kind] ?? d.kind}`;
      items.push(li);
    }
    const unlisted = t.divergent_rows - t.divergent.length;
    if (unlisted > 0 || t.divergent_truncated) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = `${t.table}: ${numbers.format(unlisted)}${t.divergent_truncated ? '+' : ''} more`;
      items.push(li);
    }
  }
  $('divergence-list').replaceChildren(...items);
}

function renderVerify(verify, now) {
  const section = $('verify');
  section.hidden = !verify;
  if (!verify) return;
  setText('verify-note', `continuous, at most ${oneDecimal.format(verify.share * 100)}% of the time`);
  const rows = verify.tables.map((t) => {
    const tr = document.createElement('tr');
    tr.dataset.table = t.table;
    const name = document.createElement('td');
    name.textContent = t.table;
    const divergent = document.createElement('td');
    divergent.className = 'num';
    divergent.dataset.divergent = String(t.divergent_rows > 0);
    divergent.textContent = `${numbers.format(t.divergent_rows)}${t.divergent_truncated ? '+' : ''}`;
    const lastPass = document.createElement('td');
    lastPass.className = 'num';
    lastPass.textContent = t.last_full_pass ? ago(t.last_full_pass, now) : 'not yet';
    if (t.last_full_pass) lastPass.title = new Date(t.last_full_pass).toLocaleString();
    const pass = document.createElement('td');
    pass.className = 'num';
    // The rows of the last full pass; the pass under way's so far before the first one ends.
    pass.textContent = t.note ?? numbers.format(t.last_pass_rows ?? t.pass_rows);
    if (t.note) pass.title = t.note;
    tr.append(name, divergent, lastPass, pass);
    return tr;
  });
  $('verify-tables').tBodies[0].replaceChildren(...rows);
}

function renderCopy(copies) {
  const section = $('copy');
  if (!Array.isArray(copies) || copies.length === 0) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const items = copies.map((c) => {
    const li = document.createElement('li');
    li.dataset.table = c.table;
    const head = document.createElement('div');
    head.className = 'copy-head';
    const name = document.createElement('strong');
    name.textContent = c.table;
    const figures = document.createElement('span');
    figures.className = 'muted small';
    const estimated = typeof c.rows_estimated === 'number' && c.rows_estimated > 0 ? c.rows_estimated : null;
    const parts = [
      estimated === null
        ? `${numbers.format(c.rows_done)} rows`
        : `${numbers.format(c.rows_done)} / ~${numbers.format(estimated)} rows (${Math.min(100, Math.floor((c.rows_done / estimated) * 100))}%)`,
    ];
    if (c.rate > 0) parts.push(`${formatRate(c.rate)} rows/s`);
    if (estimated !== null && c.rate > 0 && c.rows_done < estimated) {
      parts.push(`~${formatDuration(((estimated - c.rows_done) / c.rate) * 1000)} left`);
    }
    figures.textContent = parts.join(' · ');
    head.append(name, figures);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.setAttribute('role', 'progressbar');
    bar.setAttribute('aria-label', `initial copy of ${c.table}`);
    const fill = document.createElement('span');
    if (estimated === null) {
      bar.dataset.unknown = 'true';
    } else {
      const percent = Math.min(100, (c.rows_done / estimated) * 100);
      fill.style.width = `${percent}%`;
      bar.setAttribute('aria-valuenow', String(Math.round(percent)));
      bar.setAttribute('aria-valuemin', '0');
      bar.setAttribute('aria-valuemax', '100');
    }
    bar.append(fill);
    li.append(head, bar);
    return li;
  });
  $('copy-list').replaceChildren(...items);
}

function reachability(id, value) {
  const el = $(id);
  el.dataset.ok = value === null ? '' : String(value);
  setText(id, value === null ? 'checking…' : value ? 'reachable' : 'unreachable');
}

function renderDetails(status, now) {
  reachability('primary', status.primary_reachable);
  reachability('replica', status.replica_reachable);
  setText('last-lsn', status.last_lsn);
  setText(
    'last-sync',
    ago(status.last_sync_time, now),
    status.last_sync_time ? new Date(status.last_sync_time).toLocaleString() : '',
  );
  setText(
    'errors',
    status.error_count === 0
      ? 'none'
      : `${numbers.format(status.error_count)} (last ${status.last_error_code ?? ''} ${ago(status.last_error_time, now)})`,
  );
  setText('started', `${new Date(status.started_at).toLocaleString()} (${formatDuration(now - Date.parse(status.started_at))})`);
}

function showUnreachable(error) {
  const state = $('state');
  state.dataset.state = 'unreachable';
  setText('state', 'unreachable');
  document.title = 'pg-replicator · unreachable';
  document.body.dataset.stale = 'true';
  $('error').hidden = false;
  setText('error-title', 'The replicator does not answer');
  $('error-code').hidden = true;
  setText('error-time', lastStatus ? 'showing the last figures received' : '');
  setText('error-message', String(error?.message ?? error));
  $('error-hint').hidden = true;
}

function el(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Rounds up to 1, 2 or 5 times a power of ten. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  const f = value / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** The charts' time span: since the first sample, from 1 to 5 minutes, in whole minutes. */
function chartWindow(now) {
  const elapsed = samples.length > 0 ? now - samples[0].t : 0;
  return Math.min(CHART_WINDOW_MS, Math.max(60_000, Math.ceil(elapsed / 60_000) * 60_000));
}

function minutesLabel(ms) {
  const minutes = ms / 60_000;
  return Number.isInteger(minutes) ? `${minutes} min` : `${oneDecimal.format(minutes)} min`;
}

function drawChart(svg, points, minimum, format, span) {
  const width = svg.clientWidth;
  const height = svg.clientHeight;
  if (width === 0 || height === 0) return;
  const left = 54;
  const right = 8;
  const top = 8;
  const bottom = 22;
  const now = Date.now();
  const x = (t) => left + ((t - (now - span)) / span) * (width - left - right);
  const values = points.map((p) => p.v);
  const max = niceCeiling(Math.max(minimum, ...values));
  const y = (v) => top + (1 - v / max) * (height - top - bottom);

  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const v = max * fraction;
    nodes.push(el('line', { class: 'grid', x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    nodes.push(el('text', { class: 'axis', x: left - 8, y: y(v) + 4, 'text-anchor': 'end' }, format(v)));
  }
  const baseline = height - bottom + 16;
  nodes.push(el('text', { class: 'axis', x: left, y: baseline }, `${minutesLabel(span)} ago`));
  nodes.push(
    el('text', { class: 'axis', x: (left + width - right) / 2, y: baseline, 'text-anchor': 'middle' }, minutesLabel(span / 2)),
  );
  nodes.push(el('text', { class: 'axis', x: width - right, y: baseline, 'text-anchor': 'end' }, 'now'));

  if (points.length >= 2) {
    const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    const first = points[0];
    const last = points[points.length - 1];
    const area = `${line}L${x(last.t).toFixed(1)},${y(0)}L${x(first.t).toFixed(1)},${y(0)}Z`;
    nodes.push(el('path', { class: 'area', d: area }));
    nodes.push(el('path', { class: 'line', d: line }));
  } else {
    nodes.push(
      el(
        'text',
        { class: 'empty', x: (left + width - right) / 2, y: (top + height - bottom) / 2, 'text-anchor': 'middle' },
        'collecting…',
      ),
    );
  }
  svg.replaceChildren(...nodes);
}

function drawCharts() {
  const span = chartWindow(Date.now());
  const lag = samples.filter((s) => typeof s.lagMs === 'number').map((s) => ({ t: s.t, v: s.lagMs }));
  const rate = samples.filter((s) => typeof s.rate === 'number').map((s) => ({ t: s.t, v: s.rate }));
  drawChart($('lag-chart'), lag, 10, formatDuration, span);
  drawChart($('rate-chart'), rate, 1, (v) => formatRate(v), span);
  setText('lag-span', `last ${minutesLabel(span)}`);
  setText('rate-span', `changes/s, last ${minutesLabel(span)}`);
}

// With API_TOKEN set, open the page as http://host:port/#token=<API_TOKEN>: the
// fragment never leaves the browser; the token is kept for this tab only.
function apiToken() {
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromFragment) {
    sessionStorage.setItem('replicator-token', fromFragment);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('replicator-token');
}

async function poll() {
  try {
    const token = apiToken();
    const headers = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const response = await fetch('status', { cache: 'no-store', headers });
    if (response.status === 401) throw new Error('GET /status needs the API token: open this page as /#token=<API_TOKEN>');
    if (!response.ok) throw new Error(`GET /status answered HTTP ${response.status}`);
    render(await response.json(), Date.now());
  } catch (error) {
    showUnreachable(error);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

window.addEventListener('resize', drawCharts);
poll();
