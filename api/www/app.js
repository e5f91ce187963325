// wavemill dashboard: plain JavaScript, no build step.  Reads the REST API
// with the token from the login form (kept in sessionStorage), redraws the
// current view when the event stream (/api/v1/stream) brings news.
'use strict';

const S = { token: sessionStorage.getItem('wm_token') || '', actions: [], es: null,
            timer: null, who: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined)
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function fmtBytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function fmtEta(s) {
  if (s === null || s === undefined) return '';
  if (s < 90) return s + ' s'; if (s < 5400) return Math.round(s / 60) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}
function badge(text, extra) { return el('span', { class: 'badge ' + (extra || text) }, text); }
function bar(done, total, id) {
  const pct = total > 0 ? Math.min(100, Math.round(done * 100 / total)) : 0;
  const inner = el('div'); inner.style.width = pct + '%';
  return el('div', {}, el('div', { class: 'bar', 'data-pct': pct, id: id || '' }, inner),
            el('span', { class: 'barlabel' }, pct + '% ' + fmtBytes(done) + ' / ' + fmtBytes(total)));
}

function say(text, isError) {
  const m = $('message');
  m.textContent = text; m.className = isError ? 'error' : '';
  clearTimeout(say.t); say.t = setTimeout(() => m.classList.add('hidden'), 8000);
}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  o.headers['Authorization'] = 'Bearer ' + S.token;
  if (o.body && typeof o.body !== 'string') {
    o.body = JSON.stringify(o.body); o.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch('/api/v1/' + path, o);
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: 'HTTP ' + r.status }; }
  if (r.status === 401 && !(opts && opts.quiet401)) { logout('Session ended: ' + body.error); }
  return { status: r.status, body };
}

// --- login ---

async function login(token) {
  S.token = token.trim();
  const r = await api('whoami', { quiet401: true });
  if (r.status !== 200) { $('login-error').textContent = r.body.error || 'refused'; S.token = ''; return; }
  sessionStorage.setItem('wm_token', S.token);
  S.who = r.body;
  $('who').textContent = S.who.name + ' (' + S.who.role + ')';
  $('who').dataset.role = S.who.role;
  $('login').classList.add('hidden'); $('logout').classList.remove('hidden');
  S.actions = (await api('actions')).body.items || [];
  stream(); route();
}

function logout(msg) {
  sessionStorage.removeItem('wm_token'); S.token = '';
  if (S.es) { S.es.close(); S.es = null; }
  $('live').textContent = 'offline'; $('live').className = 'live off';
  $('who').textContent = ''; $('logout').classList.add('hidden');
  $('view').replaceChildren(); $('login').classList.remove('hidden');
  if (msg) $('login-error').textContent = msg;
}

// --- live updates ---

function stream() {
  if (S.es) S.es.close();
  S.es = new EventSource('/api/v1/stream?token=' + encodeURIComponent(S.token));
  S.es.onopen = () => { $('live').textContent = 'live'; $('live').className = 'live on'; };
  S.es.onerror = () => { $('live').textContent = 'reconnecting'; $('live').className = 'live off'; };
  S.es.addEventListener('status', (ev) => {
    const e = JSON.parse(ev.data);
    document.body.dataset.lastEvent = e.type + ':' + (e.server || e.wave || '') + ':' + e.state;
    clearTimeout(S.timer); S.timer = setTimeout(route, 300); // coalesce bursts
  });
}

// --- actions ---

function confirmBox(text) {
  return new Promise((resolve) => {
    $('confirm-text').textContent = text; $('confirm').classList.remove('hidden');
    const done = (v) => { $('confirm').classList.add('hidden'); resolve(v); };
    $('confirm-yes').onclick = () => done(true); $('confirm-no').onclick = () => done(false);
  });
}

async function act(a, target) {
  if (a.confirm && !(await confirmBox(a.help + ': ' + a.verb + ' ' + target + '?'))) return;
  const seg = a.target === 'wave' ? 'waves' : 'servers';
  const r = await api(seg + '/' + encodeURIComponent(target) + '/actions/' + a.verb, { method: 'POST', body: {} });
  if (r.status >= 400) say('Refused (' + r.status + '): ' + r.body.error, true);
  else say(a.name + ' ' + target + (r.body.changed ? ': done' : ': nothing to do') +
           (r.body.note ? ' — ' + r.body.note : ''));
  route();
}

function actionButtons(kind, target) {
  return el('div', { class: 'actions' }, S.actions
    .filter((a) => a.target === kind && a.verb !== 'create' && a.verb !== 'set' && !a.params.includes('task'))
    .map((a) => el('button', { id: 'act-' + a.verb, class: a.confirm ? 'danger' : '', title: a.help,
                               onclick: () => act(a, target) }, a.verb)));
}

// --- views ---

async function viewWaves() {
  $('crumbs').replaceChildren(el('span', {}, 'Waves'));
  const r = await api('waves?limit=500');
  if (r.status !== 200) return say(r.body.error, true);
  const rows = r.body.items.map((w) => el('tr', { id: 'wave-' + w.name },
    el('td', {}, el('a', { href: '#/wave/' + encodeURIComponent(w.name) }, w.name)),
    el('td', {}, badge(w.status)),
    el('td', {}, Object.entries(w.lifecycle_counts).map(([k, v]) => badge(k + ' ' + v, k))),
    el('td', {}, w.cutover_at || el('span', { class: 'muted' }, 'not set')),
    el('td', {}, bar(w.bytes_replicated, w.bytes_total, 'wavebar-' + w.name))));
  $('view').replaceChildren(el('h1', {}, 'Waves'), el('table', {},
    el('tr', {}, ['Wave', 'Status', 'Servers by lifecycle', 'Cutover window', 'Replication'].map((h) => el('th', {}, h))),
    rows));
}

function diskCell(d) {
  return el('div', { class: 'disk' },
    el('div', { class: 'muted' }, d.source_path + ' · ' + d.replication_state +
       (d.rate_bytes_per_s ? ' · ' + fmtBytes(d.rate_bytes_per_s) + '/s' : '') +
       (d.eta_s ? ' · ETA ' + fmtEta(d.eta_s) : '') +
       (d.backlog_bytes ? ' · backlog ' + fmtBytes(d.backlog_bytes) : '')),
    bar(d.replicated_bytes, d.size_bytes));
}

function taskCell(s) {
  const t = s.running_task;
  if (!t) return el('span', { class: 'muted' }, s.current_step || '');
  return el('div', {}, badge(t.kind + ' ' + t.state, t.state), t.simulated ? badge('sim', 'sim') : null,
            t.bytes_total ? bar(t.bytes_done, t.bytes_total, 'taskbar-' + s.name) : null);
}

async function viewWave(name) {
  $('crumbs').replaceChildren(el('a', { href: '#/' }, 'Waves'), el('span', {}, '/ ' + name));
  const [w, s] = await Promise.all([api('waves/' + encodeURIComponent(name)),
                                    api('waves/' + encodeURIComponent(name) + '/servers?limit=500')]);
  if (w.status !== 200) return say(w.body.error, true);
  const wave = w.body;
  const rows = s.body.items.map((x) => el('tr', { id: 'server-' + x.name },
    el('td', {}, el('a', { href: '#/server/' + encodeURIComponent(x.name) }, x.name),
       x.target_provider === 'sim' ? badge('sim', 'sim') : null),
    el('td', {}, badge(x.lifecycle)),
    el('td', {}, taskCell(x)),
    el('td', {}, x.disks.map(diskCell)),
    el('td', {}, x.test_instance_id ? 'test: ' + x.test_instance_id : '', x.instance_id ? el('div', {}, 'cutover: ' + x.instance_id) : ''),
    el('td', {}, x.validation ? JSON.stringify(x.validation) : ''),
    el('td', { class: 'error' }, x.error || '')));
  $('view').replaceChildren(
    el('h1', {}, 'Wave ', name, ' ', el('span', { id: 'wave-status' }, badge(wave.status))),
    el('p', {}, 'Cutover window: ', wave.cutover_at || 'not set', ' · servers: ', wave.servers,
       ' · max parallel ', wave.max_parallel, ' · ',
       Object.entries(wave.lifecycle_counts).map(([k, v]) => badge(k + ' ' + v, k))),
    el('div', { id: 'wave-progress' }, bar(wave.bytes_replicated, wave.bytes_total, 'wavebar')),
    el('h2', {}, 'Actions'), actionButtons('wave', name),
    el('h2', {}, 'Servers'),
    el('table', {}, el('tr', {}, ['Server', 'Lifecycle', 'Step', 'Disks', 'Instances', 'Validation', 'Error'].map((h) => el('th', {}, h))), rows));
}

async function viewServer(name) {
  const [s, ev] = await Promise.all([api('servers/' + encodeURIComponent(name)),
                                     api('servers/' + encodeURIComponent(name) + '/events?limit=500')]);
  if (s.status !== 200) return say(s.body.error, true);
  const x = s.body;
  $('crumbs').replaceChildren(el('a', { href: '#/' }, 'Waves'),
    el('a', { href: '#/wave/' + encodeURIComponent(x.wave) }, '/ ' + x.wave), el('span', {}, '/ ' + name));
  const rows = ev.body.items.map((e) => el('tr', {},
    el('td', {}, e.at), el('td', {}, e.kind), el('td', {}, e.attempt), el('td', {}, badge(e.state)),
    el('td', {}, e.actor), el('td', { class: 'msg' }, e.message || '')));
  $('view').replaceChildren(
    el('h1', {}, 'Server ', name, ' ', badge(x.lifecycle), x.target_provider === 'sim' ? badge('simulated', 'sim') : null),
    el('p', {}, x.fqdn, ' · ', x.os_family, ' ', x.os_version, ' · provider ', x.target_provider,
       ' · step ', x.current_step || '-'),
    x.error ? el('p', { class: 'error' }, x.error) : null,
    el('h2', {}, 'Disks'), x.disks.map(diskCell),
    el('h2', {}, 'Actions'), actionButtons('server', name),
    el('h2', {}, 'Task timeline'),
    el('table', { class: 'timeline' }, el('tr', {}, ['Time', 'Task', 'Attempt', 'State', 'By', 'Message'].map((h) => el('th', {}, h))), rows));
}

async function route() {
  if (!S.token) return logout();
  const h = decodeURIComponent(location.hash.slice(1) || '/');
  const m = h.match(/^\/(wave|server)\/(.+)$/);
  try {
    if (!m) await viewWaves();
    else if (m[1] === 'wave') await viewWave(m[2]);
    else await viewServer(m[2]);
  } catch (e) { say('Could not load: ' + e, true); }
}

$('login-form').addEventListener('submit', (e) => { e.preventDefault(); login($('token').value); });
$('logout').addEventListener('click', () => logout());
window.addEventListener('hashchange', route);
if (S.token) login(S.token); else logout();
