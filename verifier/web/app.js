// attest dashboard: a small single-page app over the operator API (/api/v1).
// No framework, no build step. Every string that comes from the server is
// put into the page with textContent (the h() helper below), never parsed
// as HTML. The API token lives in sessionStorage: this tab only, gone when
// it closes (docs/dashboard.md says why).
'use strict';

(function () {
  const TOKEN_KEY = 'attest.token';
  const POLL_MS = 2500;
  const SVG = 'http://www.w3.org/2000/svg';

  const state = {
    token: null,
    role: null,        // 'admin' | 'viewer'
    status: null,
    route: null,
    timer: null,
    refresh: null,     // the current view's refresh function
    busy: false,
    again: false,      // a refresh was asked for while one ran
    fleet: null,       // the fleet view's filters, sort and page (from the URL)
    fleetHash: null,   // the fleet view's last URL, for "← Fleet"
    log: {diverging: false, pcr: '', q: ''},
  };

  // ---------------------------------------------------------------- DOM

  // h('tag.class', {attr: value, onclick: fn}, child...): strings become
  // text nodes, so server data is never interpreted as markup.
  function h(spec, attrs, ...kids) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length) el.className = classes.join(' ');
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'text') el.textContent = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(el, kids);
    return el;
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return el;
  }
  const $ = (sel) => document.querySelector(sel);

  // Icons: fixed path data (never server data).
  const ICONS = {
    green: 'M12 2 3 6v6c0 5.5 3.8 10.3 9 11.5 5.2-1.2 9-6 9-11.5V6zm-1.5 14.5-4-4 1.4-1.4 2.6 2.6 5.6-5.6 1.4 1.4z',
    red: 'M12 2 3 6v6c0 5.5 3.8 10.3 9 11.5 5.2-1.2 9-6 9-11.5V6zm3.5 12.1-1.4 1.4L12 13.4l-2.1 2.1-1.4-1.4 2.1-2.1-2.1-2.1 1.4-1.4 2.1 2.1 2.1-2.1 1.4 1.4-2.1 2.1z',
    unknown: 'M12 2 3 6v6c0 5.5 3.8 10.3 9 11.5 5.2-1.2 9-6 9-11.5V6zm1 16h-2v-2h2zm1.6-6.6-.9.9c-.6.6-.7 1-.7 1.7h-2v-.5c0-1 .4-1.7 1-2.3l1.2-1.2c.4-.3.5-.8.5-1.2A1.7 1.7 0 0 0 12 7.3 1.7 1.7 0 0 0 10.3 9h-2a3.7 3.7 0 0 1 7.4 0c0 .9-.4 1.7-1.1 2.4z',
    connected: 'M4 12h3l2-5 4 10 2-5h5',
    disconnected: 'M5 12h14',
    not_responding: 'M12 4v9m0 4v2',
    bell: 'M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.8V3a1.5 1.5 0 0 0-3 0v1.2A7 7 0 0 0 5 11v5l-2 2v1h18v-1z',
  };
  function icon(name, label) {
    const s = document.createElementNS(SVG, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('class', 'icon icon-' + name);
    if (label) { s.setAttribute('role', 'img'); s.setAttribute('aria-label', label); }
    else s.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', ICONS[name] || ICONS.unknown);
    if (name === 'connected' || name === 'disconnected' || name === 'not_responding') {
      p.setAttribute('fill', 'none');
      p.setAttribute('stroke', 'currentColor');
      p.setAttribute('stroke-width', '2.2');
      p.setAttribute('stroke-linecap', 'round');
    } else p.setAttribute('fill', 'currentColor');
    s.appendChild(p);
    return s;
  }

  const TRUST_WORDS = {green: 'Trusted', red: 'Not trusted', unknown: 'Unknown'};
  const TRUST_LONG = {
    green: 'Attested and trusted: the TPM quote verified and the host booted an approved configuration.',
    red: 'Attestation failed: the host is not trusted. An alarm was raised.',
    unknown: 'Not vouched for: never attested, disconnected, without a TPM, or its evidence expired.',
  };
  const CONN_WORDS = {connected: 'Connected', disconnected: 'Disconnected', not_responding: 'Not responding'};

  function trustBadge(t, big) {
    t = TRUST_WORDS[t] ? t : 'unknown';
    return h('span.badge.trust-' + t + (big ? '.big' : ''), {'data-state': t},
      icon(t), h('span', {text: TRUST_WORDS[t]}));
  }
  function connBadge(c) {
    const w = CONN_WORDS[c] || c;
    return h('span.conn.conn-' + c, null, icon(c), h('span', {text: w}));
  }

  function fmtTime(t) {
    if (!t) return 'never';
    return new Date(t * 1000).toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit'});
  }
  function ago(t) {
    if (!t) return 'never';
    const s = Math.round(Date.now() / 1000 - t);
    if (s < 0) return 'in ' + dur(-s);
    if (s < 5) return 'just now';
    return dur(s) + ' ago';
  }
  function dur(s) {
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d';
  }
  function timeEl(t) {
    return h('time', {datetime: t ? new Date(t * 1000).toISOString() : null,
      title: t ? fmtTime(t) : null, text: ago(t)});
  }

  function toast(msg, kind) {
    const t = h('div.toast' + (kind ? '.' + kind : ''), {role: kind === 'error' ? 'alert' : 'status'},
      h('span', {text: msg}),
      h('button.ghost', {type: 'button', 'aria-label': 'Dismiss', onclick: () => t.remove()}, '×'));
    $('#toasts').appendChild(t);
    setTimeout(() => t.remove(), kind === 'error' ? 12000 : 5000);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const opts = {method, headers: {Authorization: 'Bearer ' + state.token}, cache: 'no-store'};
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch('/api/v1' + path, opts);
    } catch (e) {
      throw new ApiError(0, 'NETWORK', 'The verifier cannot be reached (' + e.message + ').');
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      const e = new ApiError(res.status, err.code || 'HTTP_' + res.status,
        err.message || ('HTTP ' + res.status));
      if (res.status === 401) { signOut('Your token was refused: ' + e.message + '. Sign in again.'); }
      throw e;
    }
    return data;
  }

  // A change from a button: runs fn, reports success or the server's refusal
  // (a 403 for a viewer token says so in the server's own words).
  async function act(btn, fn, done) {
    if (btn) btn.disabled = true;
    try {
      const r = await fn();
      if (done) toast(typeof done === 'function' ? done(r) : done, 'ok');
      await refreshNow();
      return r;
    } catch (e) {
      const prefix = e.status === 403 ? 'Refused (403 ' + e.code + '): ' : (e.code ? e.code + ': ' : '');
      toast(prefix + e.message, 'error');
      return null;
    } finally {
      if (btn && btn.isConnected) btn.disabled = !isAdmin();
    }
  }

  const isAdmin = () => state.role === 'admin';
  const enc = encodeURIComponent;

  // An admin action button: for a viewer it is shown disabled with the
  // reason, and the API refuses the change anyway.
  function adminButton(label, onclick, extra) {
    const cls = (extra && extra.cls) || '';
    const attrs = Object.assign({type: 'button', onclick}, extra || {});
    delete attrs.cls;
    if (!isAdmin()) {
      attrs.disabled = true;
      attrs.title = 'Needs an admin token: this token may only read.';
    }
    return h('button' + cls, attrs, label);
  }

  // ---------------------------------------------------------------- sign in / out

  function showSignin(msg) {
    $('#top').hidden = true;
    $('#view').replaceChildren();
    $('#signin').hidden = false;
    $('#signin-error').textContent = msg || '';
    const t = $('#token');
    t.value = '';
    t.focus();
  }

  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.role = null;
    stopPolling();
    if (location.hash !== '' && location.hash !== '#/') history.replaceState(null, '', '#/');
    showSignin(msg);
  }

  async function signIn(token) {
    state.token = token;
    const st = await api('GET', '/status');
    state.role = st.role;
    state.status = st;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#signin').hidden = true;
    $('#top').hidden = false;
    const r = $('#who-role');
    r.textContent = st.role === 'admin' ? 'Admin' : 'Viewer (read only)';
    r.className = 'role role-' + st.role;
    showCoverage(st);
    route();
  }

  // ---------------------------------------------------------------- polling

  function startPolling() {
    stopPolling();
    if (document.hidden) return;
    state.timer = setInterval(() => { refreshNow(); }, POLL_MS);
    $('#live').textContent = 'Live';
    $('#live').className = 'live on';
  }
  function stopPolling() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    const l = $('#live');
    if (l) { l.textContent = document.hidden ? 'Paused' : ''; l.className = 'live'; }
  }
  // One refresh at a time. A refresh asked for while one runs (a filter
  // changed during a poll) runs right after it, so the view always ends on
  // the latest request and an older answer never lands last.
  async function refreshNow() {
    if (!state.refresh || !state.token) return;
    if (state.busy) { state.again = true; return; }
    // Do not redraw under an open dialog.
    if ($('#dialog').open) return;
    state.busy = true;
    try {
      do {
        state.again = false;
        const fn = state.refresh;
        await fn();
        if (fn !== state.refresh) state.again = !!state.refresh; // the view changed meanwhile
      } while (state.again && state.token);
      updateAlarmCount();
    } catch (e) {
      if (e.status !== 401) showViewError(e);
    } finally {
      state.busy = false;
      state.again = false;
    }
  }
  document.addEventListener('visibilitychange', () => {
    if (!state.token) return;
    if (document.hidden) stopPolling();
    else { refreshNow(); startPolling(); }
  });

  // The header's coverage: the share of enabled hosts with a verdict younger
  // than its validity (GET /status, cached by the verifier), in words, and
  // marked when a fleet alarm is open or this verifier is unhealthy.
  function showCoverage(st) {
    const el = $('#coverage');
    const c = st && st.coverage;
    if (!el || !c) { if (el) el.hidden = true; return; }
    const pct = Math.floor(c.ratio * 1000) / 10;
    const alarms = [];
    if (c.alarms && c.alarms.coverage) alarms.push('COVERAGE_LOW');
    if (c.alarms && c.alarms.dead_man) alarms.push('NO_RECENT_VERDICTS');
    const sick = c.health && !c.health.ok;
    el.textContent = 'Coverage ' + pct + '%' + (alarms.length ? ' — ' + alarms.join(', ') : '') +
      (sick ? ' — verifier unhealthy' : '');
    el.title = c.covered + ' of ' + c.enabled + ' enabled hosts have a verdict younger than its validity' +
      (sick ? '. ' + c.health.problems.map((p) => p.message).join('; ') : '');
    el.dataset.coverage = String(c.ratio);
    el.className = 'coverage' + (alarms.length || sick ? ' warn' : '');
    el.hidden = false;
  }

  async function updateAlarmCount() {
    try { showCoverage(await api('GET', '/status')); } catch (e) { /* shown by the view */ }
    try {
      const a = await api('GET', '/alarms?open=1&unacked=1&limit=1000');
      const n = a.alarms.length;
      const el = $('#nav-alarms');
      el.textContent = n ? String(n) : '';
      el.title = n ? n + ' open alarm(s) not acknowledged' : '';
      const nt = await api('GET', '/notify');
      const dead = nt.targets.reduce((s, t) => s + t.dead, 0);
      const d = $('#nav-dead');
      d.textContent = dead ? dead + ' dead' : '';
      d.title = dead ? dead + ' notification(s) not delivered (dead letters)' : '';
    } catch (e) { /* shown by the view */ }
  }

  function showViewError(e) {
    let el = $('#view-error');
    if (!el) {
      el = h('p.error', {id: 'view-error', role: 'alert'});
      $('#view').prepend(el);
    }
    el.textContent = (e.code ? e.code + ': ' : '') + e.message;
  }
  function clearViewError() { const el = $('#view-error'); if (el) el.remove(); }

  // ---------------------------------------------------------------- router

  function route() {
    if (!state.token) return;
    const hash = location.hash.replace(/^#\/?/, '');
    const qi = hash.indexOf('?');
    const query = new URLSearchParams(qi < 0 ? '' : hash.slice(qi + 1));
    const parts = (qi < 0 ? hash : hash.slice(0, qi)).split('/').map(decodeURIComponent);
    const name = parts[0] || 'fleet';
    state.route = parts;
    stamps.clear();
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === (name === 'host' ? 'fleet' : name === 'policy' ? 'policies' : name))
        a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const views = {fleet: viewFleet, host: viewHost, alarms: viewAlarms, events: viewEvents,
      policies: viewPolicies, policy: viewPolicy, catalog: viewCatalog};
    const v = views[name] || viewFleet;
    $('#view').replaceChildren();
    state.refresh = null;
    v(parts.slice(1), query).then(() => {
      refreshNow();
      startPolling();
    });
    $('#main').focus({preventScroll: true});
  }
  window.addEventListener('hashchange', route);

  // ---------------------------------------------------------------- redraws

  // Views redraw only when their data changed (a redraw on every poll would
  // take the keyboard focus away); relative times are updated in place.
  function tickTimes(root) {
    for (const t of (root || document).querySelectorAll('time[datetime]'))
      t.textContent = ago(Date.parse(t.getAttribute('datetime')) / 1000);
  }
  const stamps = new Map();
  function changed(key, data) {
    const s = JSON.stringify(data);
    if (stamps.get(key) === s) { tickTimes($('#view')); return false; }
    stamps.set(key, s);
    return true;
  }
  // Run fn (which rebuilds part of the view) and put the focus back on the
  // equivalent element if it was inside the view.
  function redraw(fn) {
    const a = document.activeElement;
    const inView = a && a !== document.body && $('#view').contains(a);
    const key = inView ? {id: a.id, tag: a.tagName, label: a.getAttribute('aria-label'),
      href: a.getAttribute('href'), text: a.textContent, ev: a.dataset && a.dataset.event} : null;
    fn();
    if (!key || (document.activeElement && $('#view').contains(document.activeElement) &&
        document.activeElement !== document.body)) return;
    let el = key.id ? document.getElementById(key.id) : null;
    if (!el) {
      for (const c of $('#view').querySelectorAll(key.tag)) {
        if ((key.ev && c.dataset.event === key.ev) || (!key.ev && c.getAttribute('aria-label') === key.label &&
            c.getAttribute('href') === key.href && c.textContent === key.text)) { el = c; break; }
      }
    }
    if (el) el.focus({preventScroll: true});
  }

  // ---------------------------------------------------------------- fleet

  // The fleet view pages, filters and sorts on the server (GET /api/v1/hosts
  // with trust, connection, q, sort, order, limit, offset): a refresh fetches
  // one page of FLEET_PAGE hosts and the fleet's counts, whatever its size.
  // Its state is in the URL (#/fleet?trust=red&sort=name&page=2), so a
  // filtered view can be linked and survives a reload.
  const FLEET_PAGE = 100;
  // The sort menu's choices: [key, label, API sort, API order].
  const FLEET_SORTS = [
    ['state', 'Trust state (red first)', 'trust', 'asc'],
    ['connection', 'Connection (not responding first)', 'connection', 'asc'],
    ['attested', 'Last attestation (newest first)', 'last_attested', 'desc'],
    ['attested-old', 'Last attestation (oldest first)', 'last_attested', 'asc'],
    ['name', 'Name (A to Z)', 'name', 'asc'],
    ['name-desc', 'Name (Z to A)', 'name', 'desc'],
  ];
  const TRUST_KEYS = ['green', 'red', 'unknown'];
  const CONN_KEYS = ['connected', 'disconnected', 'not_responding'];

  // The fleet state from the URL's query; unknown values fall back to the
  // defaults (the server would refuse them).
  function fleetFromQuery(p) {
    const sort = FLEET_SORTS.find((s) => s[2] === p.get('sort') && s[3] === (p.get('order') || 'asc')) ||
      FLEET_SORTS[0];
    const page = parseInt(p.get('page') || '1', 10);
    return {
      q: (p.get('q') || '').slice(0, 255),
      policy: p.get('policy') || '',
      trust: TRUST_KEYS.includes(p.get('trust')) ? p.get('trust') : '',
      conn: CONN_KEYS.includes(p.get('connection')) ? p.get('connection') : '',
      sort: sort[0],
      page: Number.isSafeInteger(page) && page > 0 ? page : 1,
    };
  }
  // The API query of the fleet state (also the URL's, with page).
  function fleetQuery(f, withPage) {
    const s = FLEET_SORTS.find((x) => x[0] === f.sort) || FLEET_SORTS[0];
    const p = new URLSearchParams();
    if (f.trust) p.set('trust', f.trust);
    if (f.conn) p.set('connection', f.conn);
    if (f.q.trim()) p.set('q', f.q.trim());
    if (f.policy) p.set('policy', f.policy);
    if (withPage) {
      if (s !== FLEET_SORTS[0]) { p.set('sort', s[2]); p.set('order', s[3]); }
      if (f.page > 1) p.set('page', String(f.page));
    } else {
      p.set('sort', s[2]);
      p.set('order', s[3]);
      p.set('limit', String(FLEET_PAGE));
      p.set('offset', String((f.page - 1) * FLEET_PAGE));
    }
    return p.toString();
  }

  // A link to the fleet view with these filters (fleetFromQuery's words).
  function fleetLink(filters) {
    const q = fleetQuery(Object.assign({q: '', trust: '', conn: '', policy: '', sort: FLEET_SORTS[0][0], page: 1}, filters), true);
    return '#/fleet' + (q ? '?' + q : '');
  }

  // Previous / next and "page N of M" for a paged list (pages null: not
  // known, and there is more); go(page) moves.
  function pager(id, page, pages, go, label) {
    return h('nav.pager', {id, 'aria-label': label, 'data-page': page, 'data-pages': pages},
      h('button', {type: 'button', disabled: page <= 1, onclick: () => go(page - 1),
        'aria-label': 'Previous page'}, '‹ Previous'),
      h('span.muted', {'aria-live': 'polite', text: pages != null ? 'Page ' + page + ' of ' + pages : 'Page ' + page}),
      h('button', {type: 'button', disabled: pages != null && page >= pages, onclick: () => go(page + 1),
        'aria-label': 'Next page'}, 'Next ›'));
  }

  async function viewFleet(args, query) {
    document.title = 'Fleet · attest';
    const f = fleetFromQuery(query);
    state.fleet = f;
    state.fleetHash = location.hash; // "← Fleet" on a host's page comes back to this view
    let total = 0, searchTimer = null;
    const counts = h('div.counts', {id: 'counts', role: 'group', 'aria-label': 'Hosts per state'});
    const search = h('input', {type: 'search', id: 'fleet-search', name: 'q', placeholder: 'Name or address',
      maxlength: 255, value: f.q, oninput: (e) => {
        clearTimeout(searchTimer);
        searchTimer = setTimeout(() => { f.q = e.target.value; go(1); }, 250);
      }});
    const trustSel = select('fleet-trust', [['', 'Any trust state'], ['green', 'Trusted (green)'],
      ['red', 'Not trusted (red)'], ['unknown', 'Unknown']], f.trust, (v) => { f.trust = v; go(1); });
    const connSel = select('fleet-conn', [['', 'Any connection'], ['connected', 'Connected'],
      ['disconnected', 'Disconnected'], ['not_responding', 'Not responding']], f.conn, (v) => { f.conn = v; go(1); });
    const sortSel = select('fleet-sort', FLEET_SORTS.map((s) => [s[0], s[1]]), f.sort, (v) => { f.sort = v; go(1); });
    const tbody = h('tbody', {id: 'fleet-rows'});
    const summary = h('p.muted', {id: 'fleet-summary', 'aria-live': 'polite'});
    const pagers = [h('div'), h('div')];
    // A header sorts by its column; pressed again, it reverses (where it can).
    const HEADS = {name: ['name', 'name-desc'], state: ['state'], connection: ['connection'],
      attested: ['attested', 'attested-old']};
    function sortHead(label, key) {
      const keys = HEADS[key];
      const on = keys.includes(f.sort);
      return h('button.th-sort', {type: 'button', 'aria-pressed': on ? 'true' : 'false', 'data-sort': key,
        onclick: () => { f.sort = on && keys.length > 1 ? keys[1 - keys.indexOf(f.sort)] : keys[0]; go(1); }},
      label, on && f.sort !== keys[0] ? ' ↑' : on ? ' ↓' : '');
    }
    const head = h('tr');
    // aria-sort on the column the rows are sorted by (in the API's order).
    const sorted = (key) => {
      if (!HEADS[key].includes(f.sort)) return {scope: 'col'};
      const s = FLEET_SORTS.find((x) => x[0] === f.sort);
      return {scope: 'col', 'aria-sort': s[3] === 'asc' ? 'ascending' : 'descending'};
    };
    function drawHead() {
      head.replaceChildren(
        h('th', sorted('name'), sortHead('Host', 'name')),
        h('th', sorted('state'), sortHead('Trust state', 'state')),
        h('th', sorted('connection'), sortHead('Connection', 'connection')),
        h('th', sorted('attested'), sortHead('Last attested', 'attested')),
        h('th.hide-narrow', {scope: 'col', text: 'Why'}),
        h('th.hide-narrow', {scope: 'col', text: 'Configuration'}),
        h('th', {scope: 'col'}, h('span.sr-only', {text: 'Actions'})));
    }
    $('#view').append(
      h('div.page-head', null, h('h1', {text: 'Fleet'}), summary),
      counts,
      h('form.filters', {role: 'search', onsubmit: (e) => e.preventDefault()},
        field('Search', search), field('Trust', trustSel), field('Connection', connSel),
        field('Sort by', sortSel),
        // The policy filter comes from a link (Approved configurations).
        f.policy ? h('div.field', null, h('span.label', {text: 'Configuration'}),
          h('button.chip', {type: 'button', id: 'fleet-policy', 'data-policy': f.policy,
            'aria-label': 'Configuration ' + f.policy + ': remove this filter',
            onclick: (e) => { f.policy = ''; e.currentTarget.parentNode.remove(); go(1); }}, f.policy, ' ×')) : null),
      pagers[0],
      h('div.table-wrap', null,
        h('table.fleet', {id: 'fleet-table'},
          h('caption.sr-only', {text: 'Hosts with their hardware trust and connection state'}),
          h('thead', null, head),
          tbody)),
      pagers[1]);

    // A change of filter, sort or page: into the URL (replaced, so Back
    // leaves the fleet rather than stepping through every keystroke) and
    // fetched at once.
    function go(page) {
      f.page = Math.max(1, page);
      trustSel.value = f.trust;
      connSel.value = f.conn;
      sortSel.value = f.sort;
      const q = fleetQuery(f, true);
      state.fleetHash = '#/fleet' + (q ? '?' + q : '');
      history.replaceState(null, '', state.fleetHash);
      refreshNow();
    }

    function drawRows(r) {
      const rows = r.hosts.map((x) => {
        const why = (x.reasons && x.reasons[0]) ? x.reasons[0].message : '';
        return h('tr', {'data-host': x.name, 'data-trust': x.trust, 'data-connection': x.connection,
          class: 'row-' + x.trust},
          h('th', {scope: 'row'}, h('a', {href: '#/host/' + enc(x.name), text: x.name}),
            h('div.muted.small', {'data-mode': x.mode || 'pull',
              text: x.mode === 'push' ? 'push (agent connects)' : x.address + ' · pull'})),
          h('td', null, trustBadge(x.trust)),
          h('td', null, connBadge(x.connection)),
          h('td', null, timeEl(x.last_attested)),
          h('td.hide-narrow.why', {text: why, title: why}),
          h('td.hide-narrow', {text: x.policy || 'default'}),
          h('td.actions', null, adminButton('Attest now', (e) => act(e.currentTarget,
            () => api('POST', '/hosts/' + enc(x.name) + '/attest'), 'Attestation of ' + x.name + ' queued'),
            {'aria-label': 'Attest ' + x.name + ' now', cls: '.small', disabled: !x.enabled || !isAdmin()})));
      });
      if (!rows.length)
        rows.push(h('tr', null, h('td.empty', {colspan: 7,
          text: r.counts.total ? 'No host matches these filters.' : 'No hosts yet. Add one with attestctl host add.'})));
      tbody.replaceChildren(...rows);
      const pages = Math.max(1, Math.ceil(total / FLEET_PAGE));
      const first = total ? (f.page - 1) * FLEET_PAGE + 1 : 0;
      const last = (f.page - 1) * FLEET_PAGE + r.hosts.length;
      summary.textContent = (total === r.counts.total ? total + ' host(s)'
        : total + ' of ' + r.counts.total + ' host(s) match') + (pages > 1 ? ', ' + first + '–' + last + ' shown' : '');
      summary.dataset.total = String(total);
      for (let i = 0; i < 2; i++)
        pagers[i].replaceChildren(pages > 1 ? pager('fleet-pager' + (i ? '-bottom' : ''), f.page, pages, go,
          i ? 'Hosts, pages (bottom)' : 'Hosts, pages') : '');
    }
    function drawCounts(c) {
      const tile = (key, kind, label, ic) => h('button.tile.tile-' + key, {type: 'button',
        'aria-pressed': (kind === 'trust' ? f.trust : f.conn) === key ? 'true' : 'false',
        'data-count': key,
        onclick: () => {
          if (kind === 'trust') f.trust = f.trust === key ? '' : key;
          else f.conn = f.conn === key ? '' : key;
          go(1);
        }}, ic, h('span.n', {text: String(c[key])}), h('span.l', {text: label}));
      counts.replaceChildren(
        tile('green', 'trust', 'Trusted', icon('green')),
        tile('red', 'trust', 'Not trusted', icon('red')),
        tile('unknown', 'trust', 'Unknown', icon('unknown')),
        h('span.sep', {'aria-hidden': 'true'}),
        tile('connected', 'conn', 'Connected', icon('connected')),
        tile('disconnected', 'conn', 'Disconnected', icon('disconnected')),
        tile('not_responding', 'conn', 'Not responding', icon('not_responding')));
    }
    state.refresh = async () => {
      let r = await api('GET', '/hosts?' + fleetQuery(f, false));
      // Past the last page (the fleet shrank, or a filter matches fewer
      // hosts): show the last page instead of an empty one.
      const pages = Math.max(1, Math.ceil(r.total / FLEET_PAGE));
      if (f.page > pages) {
        f.page = pages;
        const q = fleetQuery(f, true);
        state.fleetHash = '#/fleet' + (q ? '?' + q : '');
        history.replaceState(null, '', state.fleetHash);
        r = await api('GET', '/hosts?' + fleetQuery(f, false));
      }
      clearViewError();
      if (!changed('fleet', [fleetQuery(f, false), r])) return;
      total = r.total;
      redraw(() => { drawHead(); drawCounts(r.counts); drawRows(r); });
    };
  }

  function select(id, options, value, onchange) {
    const s = h('select', {id, name: id, onchange: (e) => onchange(e.target.value)},
      options.map(([v, l]) => h('option', {value: v, text: l})));
    s.value = value;
    return s;
  }
  function field(label, input) {
    return h('div.field', null, h('label', {for: input.id, text: label}), input);
  }

  // ---------------------------------------------------------------- host

  // What a reason means for the operator, beyond the verifier's sentence:
  // the advice column of the verifier's reason table (GET /api/v1/reasons,
  // lib/reason.c), fetched once per page load; the dashboard keeps no copy.
  let ADVICE = null;
  async function loadAdvice() {
    if (ADVICE) return;
    const t = await api('GET', '/reasons');
    const m = {};
    for (const r of t.reasons || []) if (r.advice) m[r.code] = r.advice;
    ADVICE = m;
  }

  function dl(pairs) {
    return h('dl.kv', null, pairs.filter((p) => p && p[1] !== undefined).map(([k, v]) =>
      [h('dt', {text: k}), h('dd', null, v === null || v === '' ? h('span.muted', {text: '—'}) :
        (typeof v === 'object' ? v : String(v)))]));
  }
  function mono(s, cls) { return h('code' + (cls || ''), {text: s}); }
  function yesNo(b, yes, no) {
    return h('span.yn.' + (b ? 'yes' : 'no'), null, icon(b ? 'green' : 'red'), h('span', {text: b ? (yes || 'Yes') : (no || 'No')}));
  }

  async function viewHost(args) {
    const name = args[0] || '';
    document.title = name + ' · attest';
    const root = h('div.host', {id: 'host-view', 'data-host': name});
    $('#view').append(h('p', null, h('a', {href: state.fleetHash || '#/fleet', text: '← Fleet'})), root);
    let evid = null, evidStamp = null;
    state.refresh = async () => {
      await loadAdvice();
      const host = await api('GET', '/hosts/' + enc(name));
      const stamp = host.updated_at + '|' + host.last_attested + '|' + host.trust + '|' + host.connection;
      if (stamp !== evidStamp) {
        try { evid = await api('GET', '/hosts/' + enc(name) + '/evidence'); }
        catch (e) { if (e.status === 404) evid = null; else throw e; }
        evidStamp = stamp;
      }
      const full = stamp + '|' + state.role;
      const [alarms, events] = await Promise.all([
        api('GET', '/alarms?host=' + enc(name) + '&limit=20'),
        api('GET', '/events?host=' + enc(name) + '&limit=30')]);
      clearViewError();
      if (!changed('host', [full, alarms, events]) && root.childElementCount) return;
      redraw(() => renderHost(root, host, evid, alarms.alarms, events.events));
    };
  }

  function renderHost(root, host, ev, alarms, events) {
    const scrollY = window.scrollY;
    const tpm = host.tpm || {};
    const ek = tpm.ek_certificate || {};
    const facts = ev && ev.facts;
    const sw = host.software || {};
    root.setAttribute('data-trust', host.trust);

    const actions = h('div.host-actions', {role: 'group', 'aria-label': 'Operator actions'},
      adminButton('Attest now', (e) => act(e.currentTarget,
        () => api('POST', '/hosts/' + enc(host.name) + '/attest'), 'Attestation queued'),
      {disabled: !host.enabled || !isAdmin(), cls: '.primary'}),
      host.enabled
        ? adminButton('Disconnect', (e) => confirmDialog('Disconnect ' + host.name + '?',
            [h('p', {text: 'The host will no longer be attested and its trust state becomes unknown until you reconnect it.'})],
            'Disconnect', () => api('POST', '/hosts/' + enc(host.name) + '/disconnect'), host.name + ' disconnected'))
        : adminButton('Reconnect', (e) => act(e.currentTarget,
            () => api('POST', '/hosts/' + enc(host.name) + '/reconnect'),
            host.name + ' reconnecting: TPM identity re-read, new AK enrolled')),
      adminButton('Approve this configuration…', () => approveDialog(host)),
      adminButton('Remove…', () => confirmDialog('Remove ' + host.name + '?',
        [h('p', {text: 'The host is deleted with its attestation keys, results and alarms. Its events stay in the history. The agent is not touched.'})],
        'Remove', async () => { await api('DELETE', '/hosts/' + enc(host.name)); location.hash = '#/fleet'; },
        host.name + ' removed', true), {cls: '.danger'}));

    // --- Summary -> Security
    const reasons = host.reasons || [];
    const security = h('section.panel.security.sec-' + host.trust, {id: 'security', 'aria-labelledby': 'security-h'},
      h('h2', {id: 'security-h', text: 'Security'}),
      h('div.verdict', null,
        trustBadge(host.trust, true),
        h('div', null,
          h('p.verdict-text', {id: 'trust-words', text: TRUST_LONG[host.trust] || ''}),
          dl([['Last attested', host.last_attested ? [timeEl(host.last_attested), ' (' + fmtTime(host.last_attested) + ')'] : 'never'],
            ['Evidence valid until', host.evidence_expires ? fmtTime(host.evidence_expires) : null],
            ['Connection', connBadge(host.connection)],
            ['Next attestation', host.next_due ? fmtTime(host.next_due) : (host.enabled ? null : 'not scheduled (disconnected)')],
            ['Approved configuration', host.policy ? h('a', {href: '#/policy/' + enc(host.policy), text: host.policy}) : 'the default']]))),
      reasons.length ? h('div.reasons', null,
        h('h3', {text: host.trust === 'red' ? 'Why this host is not trusted' : 'Why'}),
        h('ol.reason-list', {id: 'reasons'}, reasons.map((r) => reasonItem(r, ev)))) : null);

    // --- TPM
    const tpmPanel = h('section.panel', {id: 'tpm', 'aria-labelledby': 'tpm-h'},
      h('h2', {id: 'tpm-h', text: 'TPM'}),
      host.tpm ? dl([
        ['Manufacturer', tpm.manufacturer],
        ['Model (vendor string)', tpm.vendor],
        ['Firmware', tpm.firmware],
        ['Interface', tpm.interface ? tpm.interface.toUpperCase() : null],
        ['PCR banks', (tpm.banks || []).join(', ')],
        ['Endorsement key', tpm.ek_kind],
        ['Certified TPM', yesNo(host.ek_certified, 'Yes: its EK certificate chains to the certified TPM list', 'No')],
        ['EK certificate', ek.status ? h('span', null, mono(ek.status), ek.message ? ' — ' + ek.message : '') : null],
        ['EK certificate NV index', ek.nv_index],
        ['EK certificate issuer', ek.issuer],
        ['EK certificate subject', ek.subject],
        ['Strict DER', ek.strict_der === undefined ? null : (ek.strict_der ? 'yes' : 'no (parsed leniently)')],
        ['Attestation key (AK) name', host.ak_name ? mono(host.ak_name, '.wrap') : 'none enrolled'],
        ['AK enrolled', ev && ev.ak && ev.ak.enrolled_at ? fmtTime(ev.ak.enrolled_at) : null],
        ['Agent version', tpm.agent_version],
        ['Boot', host.boot ? 'reset count ' + host.boot.reset_count + ', restart count ' + host.boot.restart_count : null],
      ]) : h('p.muted', {text: 'No TPM identity read yet (or the agent reported none).'}));

    // --- Secure Boot
    const sbState = facts ? facts.secure_boot : null;
    const sb = h('section.panel', {id: 'secure-boot', 'aria-labelledby': 'sb-h'},
      h('h2', {id: 'sb-h', text: 'Secure Boot'}),
      facts ? [
        h('p', null, sbState === 'enabled' ? yesNo(true, 'Enabled') : sbState === 'disabled' ? yesNo(false, '', 'Disabled') :
          h('span.yn.unknown', null, icon('unknown'), h('span', {text: 'Unknown'})),
          facts.secure_boot_event !== null ? h('span.muted', {text: ' (SecureBoot variable, event ' + facts.secure_boot_event + ')'}) : null),
        h('div.table-wrap', null, h('table.compact', null,
          h('caption.sr-only', {text: 'Secure Boot key databases'}),
          h('thead', null, h('tr', null, ['Variable', 'Measured', 'Verified', 'Entries', 'Lists', 'Event'].map((x) => h('th', {scope: 'col', text: x})))),
          h('tbody', null, [['PK', facts.pk], ['KEK', facts.kek], ['db', facts.db], ['dbx', facts.dbx]].map(([n, d]) =>
            h('tr', null, h('th', {scope: 'row', text: n}),
              h('td', {text: d.present ? 'yes' : 'no'}),
              h('td', {text: d.present ? (d.verified ? 'yes' : 'no') : '—'}),
              h('td', {text: d.present && d.verified && d.well_formed ? String(d.entries) : '—'}),
              h('td', {text: d.present && d.verified && d.well_formed ? String(d.lists) : '—'}),
              h('td', {text: d.present ? String(d.event) : '—'}))))))]
        : h('p.muted', {text: 'No evidence stored yet.'}));

    // --- Software
    const software = h('section.panel', {id: 'software', 'aria-labelledby': 'sw-h'},
      h('h2', {id: 'sw-h', text: 'Software (deduced from the evidence)'}),
      host.software ? [dl([
        swFact(sw, 'firmware', 'Firmware'), swFact(sw, 'boot_loader', 'Boot loader'),
        swFact(sw, 'kernel_image', 'Kernel image'), swFact(sw, 'kernel_cmdline', 'Kernel command line', true),
        swFact(sw, 'kernel', 'Kernel'), swFact(sw, 'os', 'Operating system'),
        ['TPM firmware (quote)', sw.tpm_firmware], swFact(sw, 'agent_version', 'Agent')]),
      componentList(sw),
      h('p.hint', {text: 'Shown as facts: what an event in a quoted PCR proves (its replay matched, its digest is the hash of the text). "Reported by the agent": the agent\'s own words, bound to the quote but not measured. "Not verified": what the event log says without proof.'})]
        : h('p.muted', {text: 'Not known yet.'}));

    root.replaceChildren(
      h('div.page-head', null,
        h('h1', null, host.name, ' ', trustBadge(host.trust)),
        h('p.muted', null, host.mode === 'push'
          ? h('span', {'data-mode': 'push', text: 'push mode (the agent connects)'})
          : h('span', {'data-mode': 'pull', text: host.address + ' (pull mode)'}),
          ' · ', connBadge(host.connection),
          host.thumbprint ? [' · agent ', mono(host.thumbprint, '.small.wrap')] : null)),
      actions,
      h('nav.toc', {'aria-label': 'On this page'}, h('ul', null,
        [['#security', 'Security'], ['#tpm', 'TPM'], ['#secure-boot', 'Secure Boot'], ['#software', 'Software'],
          ['#pcrs', 'PCRs'], ['#eventlog', 'Event log'], ['#host-alarms', 'Alarms'], ['#history', 'History']]
          .map(([href, l]) => h('li', null, h('a', {href: '#/host/' + enc(host.name), 'data-target': href.slice(1),
            onclick: (e) => { e.preventDefault(); const t = document.getElementById(href.slice(1)); if (t) { t.scrollIntoView(); t.focus({preventScroll: true}); } },
            text: l}))))),
      security,
      h('div.grid2', null, tpmPanel, h('div', null, sb, software)),
      pcrPanel(ev),
      eventLogPanel(ev),
      hostAlarms(alarms),
      historyPanel(host, events));
    window.scrollTo(0, scrollY);
  }

  // The measured boot applications as the software catalog names them.
  function componentList(sw) {
    const cs = sw.components || [];
    if (!cs.length) return null;
    return h('div', {id: 'components'}, h('h3', {text: 'Boot components (named by the software catalog)'}),
      h('ul.components', null, cs.map((c) => h('li', {'data-in-catalog': String(!!c.in_catalog), 'data-kind': c.kind || ''},
        c.in_catalog ? h('span', {text: c.text}) : h('span.not-verified', null,
          h('span.yn.unknown', null, icon('unknown'), h('span', {text: 'Not in the catalog'})), ' ', mono(c.digest, '.small.wrap')),
        c.rule ? h('span.muted', {text: ' · approved by rule ' + c.rule}) : null,
        c.verified ? null : h('span.muted', {text: ' · PCR not verified'})))));
  }

  // One software row: a proven value; the agent's report, said so; or what
  // the log claims without proof, marked "Not verified" with the reason.
  function swFact(sw, key, label, code) {
    const v = sw[key];
    const text = (x) => code ? mono(x, '.wrap') : h('span', {text: x});
    if (v !== null && v !== undefined) {
      const agent = (sw.reported_by_agent || []).includes(key);
      return [label, agent ? h('span', null, text(v), h('span.muted', {text: ' (reported by the agent)'})) : text(v)];
    }
    const c = (sw.not_verified || {})[key];
    if (c && typeof c.value === 'string') {
      return [label, h('span.not-verified', {'data-field': key},
        h('span.yn.unknown', null, icon('unknown'), h('span', {text: 'Not verified'})), ' ',
        text(c.value), h('span.hint.why', {text: ' ' + (c.why || '')}))];
    }
    return [label, v === undefined ? undefined : null];
  }

  function reasonItem(r, ev) {
    const e = r.evidence || {};
    const rows = [];
    if (e.pcr !== undefined) rows.push(['PCR', (e.bank ? e.bank + ' ' : '') + 'PCR ' + e.pcr]);
    if (e.event !== undefined) {
      const evt = ev && ev.events ? ev.events.find((x) => x.number === e.event) : null;
      rows.push(['Event', h('span', null, h('a', {href: '#/host/' + enc(state.route[1] || ''),
        onclick: (x) => { x.preventDefault(); focusEvent(e.event); }, text: 'event ' + e.event}),
      e.event_type || (evt && evt.type_name) ? [' · ', mono(e.event_type || evt.type_name)] : null)]);
      if (!e.description && evt && evt.description) rows.push(['What it measured', evt.description]);
    }
    if (e.description) rows.push(['What it measured', e.description]);
    if (e.expected) rows.push(['Expected', mono(e.expected, '.wrap')]);
    if (e.actual) rows.push(['Actual', mono(e.actual, '.wrap')]);
    if (e.allowed) rows.push(['The approved configuration allows', e.allowed]);
    const adv = ADVICE && ADVICE[r.code];
    return h('li.reason', {'data-code': r.code},
      h('p.reason-msg', null, icon('red'), h('span', {text: r.message || r.code})),
      h('p.reason-code', null, mono(r.code)),
      adv ? h('p.advice', {text: adv}) : null,
      rows.length ? dl(rows) : null);
  }

  function focusEvent(n) {
    state.log.diverging = false; state.log.pcr = ''; state.log.q = '';
    const panel = document.getElementById('eventlog');
    if (panel && panel.redraw) panel.redraw();
    const row = document.getElementById('ev-' + n);
    if (row) { row.scrollIntoView({block: 'center'}); row.classList.add('flash'); row.focus(); }
  }

  function pcrPanel(ev) {
    const rows = ev ? ev.pcrs : [];
    return h('section.panel', {id: 'pcrs', tabindex: '-1', 'aria-labelledby': 'pcr-h'},
      h('h2', {id: 'pcr-h', text: 'PCRs (last quote)'}),
      rows.length ? h('div.table-wrap', null, h('table.compact.pcrs', null,
        h('caption.sr-only', {text: 'Quoted and replayed PCR values'}),
        h('thead', null, h('tr', null, ['PCR', 'Bank', 'Quoted by the TPM', 'Replayed from the event log', 'Agree'].map((x) => h('th', {scope: 'col', text: x})))),
        h('tbody', null, rows.map((p) => h('tr', {class: p.matches === false ? 'diverges' : null, 'data-pcr': p.index},
          h('th', {scope: 'row', text: String(p.index)}),
          h('td', {text: p.bank}),
          h('td', null, mono(p.quoted, '.digest')),
          h('td', null, p.replayed ? mono(p.replayed, '.digest') : h('span.muted', {text: '—'})),
          h('td', null, p.matches === null ? h('span.muted', {text: 'n/a'}) : yesNo(p.matches, 'yes', 'NO')))))))
        : h('p.muted', {text: 'No evidence stored yet.'}));
  }

  function eventLogPanel(ev) {
    const panel = h('section.panel', {id: 'eventlog', tabindex: '-1', 'aria-labelledby': 'log-h'});
    const L = state.log;
    if (!ev || !ev.eventlog) {
      panel.append(h('h2', {id: 'log-h', text: 'Event log'}), h('p.muted', {text: 'No event log stored yet.'}));
      return panel;
    }
    if (ev.eventlog.error) {
      panel.append(h('h2', {id: 'log-h', text: 'Event log'}),
        h('p.error', {text: 'The event log does not parse: ' + ev.eventlog.error}));
      return panel;
    }
    const events = ev.events || [];
    const pcrs = [...new Set(events.map((e) => e.pcr).filter((p) => p !== null))].sort((a, b) => a - b);
    const only = h('input', {type: 'checkbox', id: 'log-diverging', checked: L.diverging,
      onchange: (e) => { L.diverging = e.target.checked; draw(); }});
    const pcrSel = select('log-pcr', [['', 'All PCRs'], ...pcrs.map((p) => [String(p), 'PCR ' + p])], L.pcr,
      (v) => { L.pcr = v; draw(); });
    const q = h('input', {type: 'search', id: 'log-q', placeholder: 'Type or description', value: L.q,
      oninput: (e) => { L.q = e.target.value; draw(); }});
    const tbody = h('tbody');
    const shown = h('p.muted.small', {'aria-live': 'polite'});
    function draw() {
      const qq = L.q.trim().toLowerCase();
      const list = events.filter((e) => (!L.diverging || e.diverges) && (L.pcr === '' || String(e.pcr) === L.pcr) &&
        (!qq || e.type_name.toLowerCase().includes(qq) || e.description.toLowerCase().includes(qq)));
      tbody.replaceChildren(...list.map((e) => h('tr', {id: 'ev-' + e.number, tabindex: '-1',
        class: e.diverges ? 'diverges' : null, 'data-event': e.number, 'data-diverges': e.diverges ? 'true' : 'false'},
        h('th', {scope: 'row', text: String(e.number)}),
        h('td', {text: e.pcr === null ? '—' : String(e.pcr)}),
        h('td', null, mono(e.type_name)),
        h('td.desc', null, h('span', {text: e.description}),
          e.diverges ? h('div.diverge-note', null, icon('red'), h('span', {text: 'Diverges: ' + e.reasons.join(', ')})) : null),
        h('td', null, e.digests.sha256 ? mono(e.digests.sha256, '.digest') : (e.digests.sha1 ? mono(e.digests.sha1, '.digest') : '—')),
        h('td', {text: e.check === 'pass' ? 'verified' : e.check === 'fail' ? 'MISMATCH' : e.check === 'none' ? '—' : e.check}))));
      shown.textContent = list.length + ' of ' + events.length + ' events shown' +
        (ev.eventlog.events_truncated ? ' (the log has ' + ev.eventlog.event_count + '; the first ' + events.length + ' are listed)' : '');
    }
    panel.redraw = () => { only.checked = L.diverging; pcrSel.value = L.pcr; q.value = L.q; draw(); };
    panel.append(
      h('h2', {id: 'log-h', text: 'Event log'}),
      h('p.muted', {text: ev.eventlog.format + ' log, banks ' + ev.eventlog.banks.join(', ') + ', ' +
        ev.eventlog.event_count + ' events; ' + (ev.diverging.length ? ev.diverging.length + ' diverging (highlighted)' : 'none diverging') +
        (ev.verified ? '.' : '. This evidence failed a check (see the reasons above): the log is shown as the host sent it.')}),
      h('form.filters', {onsubmit: (e) => e.preventDefault()},
        h('div.field.check', null, only, h('label', {for: 'log-diverging', text: 'Only diverging events'})),
        field('PCR', pcrSel), field('Search', q)),
      shown,
      h('div.table-wrap.log', null, h('table.compact.events', null,
        h('caption.sr-only', {text: 'Measured boot events'}),
        h('thead', null, h('tr', null, ['#', 'PCR', 'Type', 'Description', 'SHA-256 digest', 'Content'].map((x) => h('th', {scope: 'col', text: x})))),
        tbody)));
    draw();
    return panel;
  }

  function alarmState(a) {
    return a.cleared_at ? 'cleared' : 'open';
  }

  function alarmRow(a, withHost) {
    const ackd = !!a.acked_at;
    // A fleet alarm (coverage, dead man) is about no one host.
    const who = a.host == null ? 'the fleet (' + (a.kind || '?') + ')' : a.host;
    return h('tr', {'data-alarm': a.id, 'data-acked': ackd ? 'true' : 'false', 'data-alarm-host': a.host || '',
      'data-alarm-kind': a.kind || 'host', class: a.cleared_at ? 'cleared' : 'open'},
      h('th', {scope: 'row', text: '#' + a.id}),
      withHost ? h('td', null, a.host == null ? h('span', {text: 'Fleet: ' + (a.kind || '?')})
        : h('a', {href: '#/host/' + enc(a.host), text: a.host})) : null,
      h('td', null, timeEl(a.raised_at)),
      h('td.why', null, h('span', {text: (a.reasons && a.reasons[0] && a.reasons[0].message) || a.summary}),
        h('div.muted.small', {text: a.summary})),
      h('td', null, a.cleared_at ? h('span.badge.trust-green', null, icon('green'), h('span', {text: 'Cleared'}))
        : h('span.badge.trust-red', null, icon('bell'), h('span', {text: 'Open'}))),
      h('td.ack', null, ackd ? h('span', {text: 'Acknowledged by ' + a.acked_by + ', ' + ago(a.acked_at)})
        : adminButton('Acknowledge', (e) => act(e.currentTarget, () => api('POST', '/alarms/' + a.id + '/ack'),
          'Alarm #' + a.id + ' acknowledged'), {'aria-label': 'Acknowledge alarm ' + a.id + ' of ' + who, cls: '.small'})));
  }

  function alarmTable(list, withHost, id) {
    return h('div.table-wrap', null, h('table.compact.alarms', {id},
      h('caption.sr-only', {text: 'Alarms'}),
      h('thead', null, h('tr', null, ['Alarm', withHost ? 'Host' : null, 'Raised', 'Reason', 'State', 'Acknowledged']
        .filter(Boolean).map((x) => h('th', {scope: 'col', text: x})))),
      h('tbody', null, list.length ? list.map((a) => alarmRow(a, withHost))
        : h('tr', null, h('td.empty', {colspan: withHost ? 6 : 5, text: 'No alarms.'})))));
  }

  // Notification targets with their deliveries and dead letters
  // (attestctl notify show NAME lists the dead letters themselves).
  function notifyTable(list) {
    return h('div.table-wrap', null, h('table.compact', {id: 'notify-table'},
      h('caption.sr-only', {text: 'Notification targets'}),
      h('thead', null, h('tr', null, ['Target', 'Type', 'Delivered', 'Waiting', 'Dead letters', 'Last error']
        .map((x) => h('th', {scope: 'col', text: x})))),
      h('tbody', null, list.length ? list.map((t) => h('tr', {'data-target': t.name, 'data-dead': String(t.dead)},
        h('td', {text: t.name}), h('td', {text: t.type}), h('td', {text: String(t.delivered)}),
        h('td', {text: String(t.pending)}), h('td', {text: String(t.dead)}), h('td', {text: t.last_error || '—'})))
        : h('tr', null, h('td.empty', {colspan: 6, text: 'No notification targets (attestctl notify add).'})))));
  }

  function hostAlarms(alarms) {
    return h('section.panel', {id: 'host-alarms', tabindex: '-1', 'aria-labelledby': 'ha-h'},
      h('h2', {id: 'ha-h', text: 'Alarms'}), alarmTable(alarms, false, 'host-alarm-table'));
  }

  function timeline(events) {
    return h('ol.timeline', null, events.map((e) => h('li.kind-' + e.kind, {'data-event-id': e.id},
      h('span.when', null, timeEl(e.at)),
      h('span.kind', {text: e.kind}),
      h('span.msg', null, e.host && state.route[0] !== 'host' ? [h('a', {href: '#/host/' + enc(e.host), text: e.host}), ': '] : null,
        e.message, h('span.muted.small', {text: ' — ' + e.actor})))));
  }

  function historyPanel(host, events) {
    const results = host.results || [];
    return h('section.panel', {id: 'history', tabindex: '-1', 'aria-labelledby': 'hi-h'},
      h('h2', {id: 'hi-h', text: 'History'}),
      h('div.grid2', null,
        h('div', null, h('h3', {text: 'Last attestations'}),
          results.length ? h('ol.results', null, results.map((r) => h('li', null, trustBadge(r.trust), ' ', timeEl(r.at),
            h('span.muted.small', {text: ' · ' + r.duration_ms + ' ms' + (r.reasons && r.reasons.length ? ' · ' + r.reasons.map((x) => x.code).join(', ') : '')}))))
            : h('p.muted', {text: 'None yet.'})),
        h('div', null, h('h3', {text: 'Events'}), timeline(events))));
  }

  // ---------------------------------------------------------------- dialogs

  function openDialog(title, body, buttons) {
    const d = $('#dialog');
    $('#dialog-title').textContent = title;
    $('#dialog-body').replaceChildren(...body);
    $('#dialog-error').textContent = '';
    $('#dialog-actions').replaceChildren(...buttons);
    if (!d.open) d.showModal();
    const f = d.querySelector('input, button.primary, button.danger');
    if (f) f.focus();
    return d;
  }
  function closeDialog() { const d = $('#dialog'); if (d.open) d.close(); refreshNow(); }

  function confirmDialog(title, body, label, fn, done, danger) {
    const go = h('button' + (danger ? '.danger' : '.primary'), {type: 'button', onclick: async () => {
      go.disabled = true;
      try {
        await fn();
        closeDialog();
        toast(done, 'ok');
      } catch (e) {
        $('#dialog-error').textContent = (e.status === 403 ? 'Refused (403): ' : '') + e.message;
        go.disabled = false;
      }
    }}, label);
    openDialog(title, body, [h('button', {type: 'button', onclick: closeDialog}, 'Cancel'), go]);
  }

  // "Approve this host's configuration": a dry run first shows what would
  // be approved; only the second step creates the policy.
  function approveDialog(host) {
    const nameIn = h('input', {id: 'approve-name', name: 'name', required: true,
      value: host.name + '-' + new Date().toISOString().slice(0, 10)});
    const assign = h('input', {type: 'checkbox', id: 'approve-assign', checked: true});
    const preview = h('div.preview', {id: 'approve-preview', 'aria-live': 'polite'});
    const previewBtn = h('button.primary', {type: 'button', onclick: doPreview}, 'Show what will be approved');
    const confirmBtn = h('button.primary', {type: 'button', hidden: true, onclick: doApprove}, 'Approve');
    async function doPreview() {
      $('#dialog-error').textContent = '';
      previewBtn.disabled = true;
      try {
        const r = await api('POST', '/policies', {name: nameIn.value, from_host: host.name, dry_run: true});
        preview.replaceChildren(
          h('p', {text: 'From the evidence of ' + fmtTime(r.evidence_at) + ', the policy "' + nameIn.value + '" would approve:'}),
          h('ul.learned', null, r.learned.map((l) => h('li', {text: l}))),
          h('details', null, h('summary', {text: 'Policy document'}), h('pre', {text: JSON.stringify(r.body, null, 2)})),
          h('p.muted.small', {text: 'Approving attests the host again and learns from that fresh evidence.'}));
        previewBtn.hidden = true;
        confirmBtn.hidden = false;
        confirmBtn.focus();
      } catch (e) {
        $('#dialog-error').textContent = (e.status === 403 ? 'Refused (403): ' : e.code + ': ') + e.message;
      } finally { previewBtn.disabled = false; }
    }
    async function doApprove() {
      confirmBtn.disabled = true;
      try {
        const r = await api('POST', '/policies', {name: nameIn.value, from_host: host.name});
        if (assign.checked) await api('POST', '/policies/' + enc(r.name) + '/assign', {host: host.name});
        closeDialog();
        toast('Configuration of ' + host.name + ' approved as "' + r.name + '"' + (assign.checked ? ' and assigned' : ''), 'ok');
      } catch (e) {
        $('#dialog-error').textContent = (e.status === 403 ? 'Refused (403): ' : e.code + ': ') + e.message;
        confirmBtn.disabled = false;
      }
    }
    nameIn.addEventListener('input', () => { previewBtn.hidden = false; confirmBtn.hidden = true; preview.replaceChildren(); });
    openDialog('Approve the configuration of ' + host.name, [
      h('p', {text: 'A new approved configuration (policy) is learned from this host\'s verified evidence: its PCR values, firmware, boot applications, kernel and Secure Boot databases.'}),
      field('Policy name', nameIn),
      h('div.field.check', null, assign, h('label', {for: 'approve-assign', text: 'Assign it to ' + host.name})),
      preview,
    ], [h('button', {type: 'button', onclick: closeDialog}, 'Cancel'), previewBtn, confirmBtn]);
  }

  // ---------------------------------------------------------------- alarms, events

  // Alarms, a page of ALARM_PAGE at a time (the API gives no total: "Next"
  // is offered while a page comes back full).
  const ALARM_PAGE = 100;
  async function viewAlarms() {
    document.title = 'Alarms · attest';
    const box = h('div', {id: 'alarms-box'});
    const pagerBox = h('div');
    let filter = 'open', page = 1;
    const sel = select('alarm-filter', [['open', 'Open'], ['unacked', 'Not acknowledged'], ['all', 'All (with history)']],
      filter, (v) => { filter = v; page = 1; refreshNow(); });
    const tl = h('div', {id: 'alarm-events'});
    const notifyBox = h('div', {id: 'notify-box'});
    $('#view').append(h('div.page-head', null, h('h1', {text: 'Alarms'}),
      h('p.muted', {text: 'An alarm is raised when a host enters red and cleared when it returns to green. ' +
        'Fleet alarms watch the whole fleet: too few hosts with a fresh verdict (COVERAGE_LOW), or no verdict at all for too long (NO_RECENT_VERDICTS).'})),
    h('form.filters', {onsubmit: (e) => e.preventDefault()}, field('Show', sel)), box, pagerBox,
    h('section.panel', null, h('h2', {text: 'Alarm history'}), tl),
    h('section.panel', null, h('h2', {text: 'Notifications'}), notifyBox));
    const go = (p) => { page = Math.max(1, p); refreshNow(); };
    state.refresh = async () => {
      const q = (filter === 'open' ? '?open=1&' : filter === 'unacked' ? '?unacked=1&' : '?') +
        'limit=' + ALARM_PAGE + '&offset=' + (page - 1) * ALARM_PAGE;
      const [a, ev, nt] = await Promise.all([api('GET', '/alarms' + q), api('GET', '/events?kind=alarm&limit=30'),
        api('GET', '/notify')]);
      if (!a.alarms.length && page > 1) { page--; return refreshNow(); }
      clearViewError();
      if (!changed('alarms', [filter, page, a, ev, nt])) return;
      const more = a.alarms.length === ALARM_PAGE;
      redraw(() => {
        box.replaceChildren(alarmTable(a.alarms, true, 'alarm-table'));
        pagerBox.replaceChildren(page > 1 || more ? pager('alarm-pager', page, more ? null : page, go, 'Alarms, pages') : '');
        tl.replaceChildren(ev.events.length ? timeline(ev.events) : h('p.muted', {text: 'Nothing yet.'}));
        notifyBox.replaceChildren(notifyTable(nt.targets));
      });
    };
  }

  async function viewEvents() {
    document.title = 'Events · attest';
    let kind = '';
    let pages = 1;
    const sel = select('event-kind', [['', 'All kinds'], ...['trust', 'connection', 'alarm', 'ak', 'host', 'policy', 'ca', 'token', 'enroll']
      .map((k) => [k, k])], kind, (v) => { kind = v; pages = 1; refreshNow(); });
    const box = h('div', {id: 'events-box'});
    const more = h('button', {type: 'button', onclick: () => { pages++; refreshNow(); }}, 'Older events');
    $('#view').append(h('div.page-head', null, h('h1', {text: 'Event history'})),
      h('form.filters', {onsubmit: (e) => e.preventDefault()}, field('Kind', sel)),
      h('section.panel', null, box, more));
    state.refresh = async () => {
      const all = [];
      let before = 0;
      for (let p = 0; p < pages; p++) {
        const r = await api('GET', '/events?limit=100' + (kind ? '&kind=' + enc(kind) : '') + (before ? '&before_id=' + before : ''));
        all.push(...r.events);
        if (!r.next_before_id) { more.hidden = true; break; }
        more.hidden = false;
        before = r.next_before_id;
      }
      clearViewError();
      if (!changed('events', [kind, all])) return;
      redraw(() => box.replaceChildren(all.length ? timeline(all) : h('p.muted', {text: 'No events.'})));
    };
  }

  // ---------------------------------------------------------------- policies

  async function viewPolicies() {
    document.title = 'Approved configurations · attest';
    const box = h('div');
    $('#view').append(h('div.page-head', null, h('h1', {text: 'Approved configurations'}),
      h('p.muted', {text: 'A host is trusted only when its measured boot matches its approved configuration (policy). Hosts without one use the default.'})), box);
    // Per policy, the first few hosts judged against it and their number,
    // asked of the server (GET /hosts?policy=NAME), whatever the fleet's size.
    const SHOWN = 5;
    state.refresh = async () => {
      const p = await api('GET', '/policies');
      const uses = await Promise.all(p.policies.map((pol) =>
        api('GET', '/hosts?limit=' + SHOWN + '&policy=' + enc(pol.name))));
      clearViewError();
      if (!changed('policies', [p, uses.map((u) => [u.total, u.hosts.map((x) => x.name)])])) return;
      redraw(() => box.replaceChildren(h('div.table-wrap', null, h('table.compact', {id: 'policy-table'},
        h('caption.sr-only', {text: 'Approved configurations'}),
        h('thead', null, h('tr', null, ['Name', 'Default', 'Hosts using it', 'Updated'].map((x) => h('th', {scope: 'col', text: x})))),
        h('tbody', null, p.policies.length ? p.policies.map((pol, i) => h('tr', {'data-policy': pol.name, 'data-hosts': uses[i].total},
          h('th', {scope: 'row'}, h('a', {href: '#/policy/' + enc(pol.name), text: pol.name})),
          h('td', {text: pol.default ? 'yes' : ''}),
          h('td', null, uses[i].hosts.map((x, k) => [k ? ', ' : '', h('a', {href: '#/host/' + enc(x.name), text: x.name})]),
            uses[i].total > uses[i].hosts.length ? [' and ', h('a', {href: fleetLink({policy: pol.name}),
              text: (uses[i].total - uses[i].hosts.length) + ' more'})] : null,
            uses[i].total ? null : h('span.muted', {text: 'none'})),
          h('td', null, timeEl(pol.updated_at))))
          : h('tr', null, h('td.empty', {colspan: 4, text: 'No policy yet: hosts are checked against the built-in requirements.'})))))));
    };
  }

  async function viewPolicy(args) {
    const name = args[0] || '';
    document.title = name + ' · attest';
    const box = h('div');
    $('#view').append(h('p', null, h('a', {href: '#/policies', text: '← Approved configurations'})), box);
    let drawn = null;
    state.refresh = async () => {
      // The first page of its hosts, red first; the fleet view has them all.
      const [p, hs] = await Promise.all([api('GET', '/policies/' + enc(name)),
        api('GET', '/hosts?sort=trust&limit=' + FLEET_PAGE + '&policy=' + enc(name))]);
      const users = hs.hosts;
      const stamp = p.updated_at + '|' + hs.total + '|' + users.map((x) => x.name + x.trust).join(',');
      if (stamp === drawn) return;
      drawn = stamp;
      clearViewError();
      box.replaceChildren(
        h('div.page-head', null, h('h1', {text: p.name}), h('p.muted', {text: (p.default ? 'The default configuration. ' : '') + 'Updated ' + fmtTime(p.updated_at)})),
        h('section.panel', {id: 'policy-hosts', 'data-hosts': hs.total}, h('h2', {text: 'Hosts using it'}),
          hs.total > users.length ? h('p.muted', null, hs.total + ' hosts; the first ' + users.length + ' by trust state (red first) are listed. ',
            h('a', {href: fleetLink({policy: p.name}), text: 'All of them in the fleet view'})) : null,
          users.length ? h('ul.hostlist', null, users.map((x) => h('li', {'data-host': x.name, 'data-trust': x.trust},
            h('a', {href: '#/host/' + enc(x.name), text: x.name}), ' ', trustBadge(x.trust))))
            : h('p.muted', {text: 'No host uses it.'})),
        whatIfPanel(p.name),
        h('section.panel', null, h('h2', {text: 'Document'}), h('pre.policy', {text: JSON.stringify(p.body, null, 2)})));
    };
  }

  // What-if: which hosts would change colour under this policy (nothing changes).
  function whatIfPanel(name) {
    const out = h('div', {id: 'whatif-result'});
    const run = async () => {
      const r = await api('GET', '/policies/' + enc(name) + '/check');
      const rows = r.hosts.filter((x) => x.changes || x.would_be === 'unknown');
      out.replaceChildren(h('p', {text: r.would_change ? r.would_change + ' host(s) would change colour.' : 'No host would change colour.'}),
        rows.length ? h('ul.hostlist', null, rows.map((x) => h('li', {'data-host': x.host, 'data-would-be': x.would_be},
          h('a', {href: '#/host/' + enc(x.host), text: x.host}), ' ', trustBadge(x.current), ' → ', trustBadge(x.would_be),
          x.why ? h('span.muted', {text: ' ' + x.why}) : null,
          (x.reasons || []).length ? h('ul', null, x.reasons.map((rr) => h('li', null, mono(rr.code, '.small'), ' ', rr.message))) : null)))
          : null);
    };
    return h('section.panel', {id: 'whatif'}, h('h2', {text: 'What if'}),
      h('p.muted', {text: 'Judge every host\'s last stored evidence against this policy; nothing is changed.'}),
      h('button', {type: 'button', id: 'whatif-run', onclick: () => run().catch((e) => out.replaceChildren(h('p.error', {text: e.message}))), text: 'Check every host'}), out);
  }

  // ---------------------------------------------------------------- catalog

  async function viewCatalog() {
    document.title = 'Software catalog · attest';
    const box = h('div');
    $('#view').append(h('div.page-head', null, h('h1', {text: 'Software catalog'}),
      h('p.muted', {text: 'Boot components read from vendor packages (attestctl catalog import): the digests firmware and boot loaders measure, and who signed them. Policies approve components by package, version and signer.'})), box);
    state.refresh = async () => {
      const r = await api('GET', '/catalog');
      clearViewError();
      if (!changed('catalog', r.entries.map((e) => e.id))) return;
      redraw(() => box.replaceChildren(h('div.table-wrap', null, h('table.compact', {id: 'catalog-table'},
        h('caption.sr-only', {text: 'Software catalog'}),
        h('thead', null, h('tr', null, ['Kind', 'Package', 'Version', 'Path', 'Authenticode SHA-256', 'Signer'].map((x) => h('th', {scope: 'col', text: x})))),
        h('tbody', null, r.entries.length ? r.entries.map((e) => h('tr', {'data-entry': String(e.id), 'data-kind': e.kind},
          h('td', {text: e.kind}), h('th', {scope: 'row', text: e.package}), h('td', {text: e.version}),
          h('td', null, mono(e.path, '.small.wrap')), h('td', null, mono(e.authenticode_sha256, '.small.wrap')),
          h('td', {text: e.signer ? e.signer.subject : 'unsigned'})))
          : h('tr', null, h('td.empty', {colspan: 6, text: 'The catalog is empty. Import packages with attestctl catalog import FILE.deb.'})))))));
    };
  }

  // ---------------------------------------------------------------- start

  document.addEventListener('DOMContentLoaded', () => {
    $('#signin-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const tok = new FormData(e.target).get('token').trim();
      const btn = e.target.querySelector('button[type=submit]');
      btn.disabled = true;
      $('#signin-error').textContent = '';
      try { await signIn(tok); }
      catch (err) {
        state.token = null;
        sessionStorage.removeItem(TOKEN_KEY);
        showSignin(err.status === 401 ? 'This token is not known to the verifier.' : err.message);
      } finally { btn.disabled = false; }
    });
    $('#signout').addEventListener('click', () => signOut('Signed out.'));
    $('#dialog').addEventListener('close', () => refreshNow());
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved).catch((err) => showSignin(err.message));
    else showSignin('');
  });
})();
