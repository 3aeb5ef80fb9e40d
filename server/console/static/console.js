// Quarry SQL console: plain JS, no dependencies. The API key lives in
// sessionStorage (this tab only) and travels as Authorization: Bearer.
(function () {
  'use strict';
  const KEY = 'quarry.key', HISTORY = 'quarry.history', ROW_H = 22;
  const $ = (id) => document.getElementById(id);
  const state = { result: null, running: null, lastRun: null };

  // A key must never sit in the URL: drop any query string or fragment.
  if (location.search || location.hash) history.replaceState(null, '', location.pathname);

  // ---- API -------------------------------------------------------------
  function key() { return sessionStorage.getItem(KEY) || ''; }
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = { 'Authorization': 'Bearer ' + key() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal });
    if (resp.status === 401) { signOut('The key was refused; sign in again.'); throw new Error('unauthorized'); }
    if (opts.raw) return resp;
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { message: text } }; }
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || resp.statusText);
      err.info = (data && data.error) || {};
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // ---- sign-in ---------------------------------------------------------
  function signOut(msg) {
    sessionStorage.removeItem(KEY);
    $('app').hidden = true; $('who').hidden = true; $('signin-view').hidden = false;
    $('signin-error').textContent = msg || '';
    $('key').value = ''; $('key').focus();
  }
  async function signIn(k) {
    sessionStorage.setItem(KEY, k);
    try {
      const data = await api('GET', '/api/datasets');
      $('signin-view').hidden = true; $('app').hidden = false; $('who').hidden = false;
      $('who-text').textContent = 'signed in · ' + data.datasets.length + ' datasets';
      renderDatasets(data.datasets);
      highlight(); renderHistory();
      $('editor').focus();
    } catch (e) {
      if (e.message !== 'unauthorized') signOut(e.message);
    }
  }
  $('signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const k = $('key').value.trim();
    $('key').value = '';
    if (k) signIn(k);
  });
  $('signout').addEventListener('click', () => signOut(''));

  // ---- dataset browser ---------------------------------------------------
  function ident(name) { return /^[a-z_][a-z0-9_]*$/.test(name) ? name : '"' + name.replace(/"/g, '""') + '"'; }
  function renderDatasets(list) {
    const ul = $('datasets');
    ul.textContent = '';
    for (const d of list) {
      const li = document.createElement('li'); li.className = 'ds';
      const name = document.createElement('span'); name.textContent = d.name;
      name.title = 'insert ' + d.name; name.addEventListener('click', () => insert(ident(d.name)));
      const meta = document.createElement('div'); meta.className = 'meta';
      meta.textContent = (d.rows || 0).toLocaleString() + ' rows' + (d.first_day ? ' · ' + d.first_day + ' … ' + d.last_day : '') +
        (d.tenant_column ? ' · tenant ' + d.tenant_column : '');
      const cols = document.createElement('ul');
      cols.hidden = list.length > 1;
      const toggle = document.createElement('span'); toggle.className = 'toggle'; toggle.title = 'show the columns';
      toggle.textContent = cols.hidden ? '▸' : '▾';
      toggle.addEventListener('click', () => { cols.hidden = !cols.hidden; toggle.textContent = cols.hidden ? '▸' : '▾'; });
      for (const c of d.columns) {
        const ci = document.createElement('li'); ci.className = 'col role-' + c.role; ci.dataset.column = c.name;
        ci.textContent = c.name + ' '; ci.title = c.role + (c.agg ? ' (' + c.agg + ')' : '') + ' — click to insert';
        const t = document.createElement('span'); t.className = 'type'; t.textContent = c.type.toLowerCase();
        ci.appendChild(t);
        ci.addEventListener('click', () => insert(ident(c.name)));
        cols.appendChild(ci);
      }
      li.append(toggle, name, meta, cols);
      ul.appendChild(li);
    }
  }
  function insert(text) {
    const ed = $('editor'), s = ed.selectionStart, e = ed.selectionEnd;
    ed.value = ed.value.slice(0, s) + text + ed.value.slice(e);
    ed.selectionStart = ed.selectionEnd = s + text.length;
    ed.focus(); highlight();
  }

  // ---- editor with highlighting -------------------------------------------
  const KEYWORDS = new Set(('select from where group by order having limit offset with as and or not in is null like ilike between ' +
    'case when then else end join left right inner outer full cross on using union all except intersect distinct asc desc ' +
    'describe summarize show tables explain analyze values cast true false qualify window over partition timespan ' +
    'pivot unpivot exclude replace lateral any some exists interval date timestamp count sum avg min max filter').split(' '));
  const TOKEN = /(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)(\s*\()?|([\s\S])/g;
  function esc(s) { return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c])); }
  function highlight() {
    const src = $('editor').value;
    let out = '', m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(src)) !== null) {
      if (m[1]) out += '<span class="c">' + esc(m[1]) + '</span>';
      else if (m[2]) out += '<span class="s">' + esc(m[2]) + '</span>';
      else if (m[3]) out += '<span class="q">' + esc(m[3]) + '</span>';
      else if (m[4]) out += '<span class="n">' + m[4] + '</span>';
      else if (m[5]) {
        const w = m[5];
        if (KEYWORDS.has(w.toLowerCase())) out += '<span class="k">' + w + '</span>';
        else if (m[6]) out += '<span class="f">' + w + '</span>';
        else out += esc(w);
        if (m[6]) out += esc(m[6]);
      } else out += esc(m[7]);
    }
    $('highlight').innerHTML = out + '\n';
    syncScroll();
  }
  function syncScroll() { $('highlight').scrollTop = $('editor').scrollTop; $('highlight').scrollLeft = $('editor').scrollLeft; }
  $('editor').addEventListener('input', highlight);
  $('editor').addEventListener('scroll', syncScroll);
  $('editor').addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 'Enter') { ev.preventDefault(); run(); }
    else if (ev.key === 'Tab') { ev.preventDefault(); insert('  '); }
  });

  // ---- running -----------------------------------------------------------
  function request() {
    const ed = $('editor');
    let sql = ed.value;
    if (ed.selectionEnd > ed.selectionStart) sql = ed.value.slice(ed.selectionStart, ed.selectionEnd);
    return { sql, limit: parseInt($('limit').value, 10) || 10000, language: $('language').value };
  }
  function busy(on, label) {
    $('run').disabled = $('explain').disabled = $('run-job').disabled = on;
    $('cancel').hidden = !on;
    $('progress').hidden = !on;
    if (on) setProgress(0, label || 'running…');
  }
  function setProgress(pct, text) {
    $('progress-bar').style.width = Math.max(0, Math.min(100, pct)) + '%';
    $('progress-text').textContent = text;
  }
  function status(text, isError) { $('status').textContent = text; $('status').className = isError ? 'error' : ''; }
  function errorText(e) {
    const i = e.info || {};
    let s = e.message;
    if (i.line) s += '  (line ' + i.line + ', column ' + i.column + ')';
    if (i.detail && i.detail !== e.message) s += '\n' + i.detail;
    return s;
  }
  function markError(e) {
    const i = e.info || {};
    if (typeof i.position === 'number' && state.lastRun && state.lastRun.sql === $('editor').value) {
      $('editor').focus(); $('editor').setSelectionRange(i.position, i.position + 1);
    }
  }
  function rid() { return 'q' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  async function run() {
    if (state.running) return;
    const req = request();
    if (!req.sql.trim()) return;
    req.query_id = rid();
    state.lastRun = req;
    const ctl = new AbortController();
    const started = performance.now();
    state.running = { kind: 'query', id: req.query_id, ctl };
    busy(true, 'running…');
    const poll = setInterval(async () => {
      try {
        const p = await api('GET', '/api/sql/queries/' + req.query_id);
        setProgress(p.progress, (p.progress_known ? p.progress.toFixed(1) + '%' : 'running') + ' · ' + (p.elapsed_ms / 1000).toFixed(1) + ' s');
      } catch (e) { /* finished meanwhile */ }
    }, 300);
    try {
      const data = await api('POST', '/api/sql', req, { signal: ctl.signal });
      const ms = performance.now() - started;
      show(data);
      status(data.row_count.toLocaleString() + ' rows' + (data.truncated ? ' (truncated at the limit of ' + data.limit.toLocaleString() + ')' : '') +
        ' · ' + data.elapsed_ms.toFixed(1) + ' ms in DuckDB · ' + ms.toFixed(0) + ' ms total · ' + data.statement + ' (' + data.language + ')');
      remember(req.sql, data.row_count, data.elapsed_ms);
    } catch (e) {
      if (e.name === 'AbortError' || (e.info && e.info.code === 'cancelled')) status('Cancelled.', true);
      else { status(errorText(e), true); markError(e); }
    } finally {
      clearInterval(poll);
      state.running = null;
      busy(false);
    }
  }

  async function runJob() {
    if (state.running) return;
    const req = request();
    if (!req.sql.trim()) return;
    state.lastRun = req;
    busy(true, 'submitting…');
    try {
      let job = await api('POST', '/api/sql/jobs', { sql: req.sql, language: req.language });
      state.running = { kind: 'job', id: job.id };
      while (job.state === 'enqueued' || job.state === 'running') {
        setProgress(job.progress || 0, 'job ' + job.id + ' · ' + job.state + ' · ' + (job.progress || 0).toFixed(1) + '%');
        await new Promise((r) => setTimeout(r, 400));
        job = await api('GET', '/api/sql/jobs/' + job.id);
      }
      if (job.state !== 'completed') { status('Job ' + job.id + ' ' + job.state + (job.error ? ': ' + job.error : ''), true); return; }
      const data = await api('GET', '/api/sql/jobs/' + job.id + '/result?limit=' + req.limit);
      show(data);
      state.lastJob = job.id;
      status('job ' + job.id + ': ' + job.rows.toLocaleString() + ' rows' + (job.truncated ? ' (truncated)' : '') +
        '; showing ' + data.row_count.toLocaleString() + ' — downloads fetch the whole result');
      remember(req.sql, job.rows, 0);
    } catch (e) {
      status(errorText(e), true); markError(e);
    } finally {
      state.running = null;
      busy(false);
    }
  }

  async function cancel() {
    const r = state.running;
    if (!r) return;
    setProgress(0, 'cancelling…');
    try {
      if (r.kind === 'query') await api('DELETE', '/api/sql/queries/' + r.id);
      else await api('DELETE', '/api/sql/jobs/' + r.id);
    } catch (e) {
      if (r.ctl) r.ctl.abort();
    }
  }

  async function explain() {
    if (state.running) return;
    const req = request();
    busy(true, 'explaining…');
    try {
      const data = await api('POST', '/api/sql/explain', req);
      $('explain-text').textContent = data.plan + (data.sql && data.plan.indexOf(data.sql) < 0 ? '\n-- sql\n' + data.sql : '');
      tab('explain-tab');
      status('plan of a ' + data.statement + ' (' + data.language + ')');
    } catch (e) {
      status(errorText(e), true); markError(e);
    } finally { busy(false); }
  }

  async function download(fmt) {
    const req = state.lastRun || request();
    status('preparing ' + fmt + '…');
    try {
      let resp;
      if (state.lastJob && state.result && state.result.job === state.lastJob) {
        resp = await api('GET', '/api/sql/jobs/' + state.lastJob + '/result?format=' + fmt, undefined, { raw: true });
      } else {
        resp = await api('POST', '/api/sql?format=' + fmt, { sql: req.sql, limit: req.limit, language: req.language }, { raw: true });
      }
      if (!resp.ok) {
        const d = await resp.json().catch(() => ({}));
        throw Object.assign(new Error((d.error && d.error.message) || resp.statusText), { info: d.error || {} });
      }
      const blob = await resp.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'quarry-result.' + fmt;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      status('downloaded ' + a.download + ' (' + blob.size.toLocaleString() + ' bytes)');
    } catch (e) { status(errorText(e), true); }
  }

  $('run').addEventListener('click', run);
  $('run-job').addEventListener('click', runJob);
  $('cancel').addEventListener('click', cancel);
  $('explain').addEventListener('click', explain);
  $('dl-csv').addEventListener('click', () => download('csv'));
  $('dl-parquet').addEventListener('click', () => download('parquet'));

  // ---- result grid (virtualized: only the visible rows are in the DOM) ---
  function show(data) {
    state.result = data;
    const cols = data.columns;
    const widths = cols.map((c, i) => {
      let w = c.name.length + c.type.length + 2;
      for (let r = 0; r < Math.min(200, data.rows.length); r++) {
        const v = data.rows[r][i];
        w = Math.max(w, v === null ? 4 : String(v).length);
      }
      return Math.min(420, Math.max(60, w * 7.4 + 14));
    });
    const numW = Math.max(44, String(data.rows.length).length * 8 + 14);
    state.widths = widths; state.numW = numW;
    const head = $('grid-head');
    head.textContent = '';
    const hn = document.createElement('span'); hn.className = 'hcell rownum'; hn.style.width = numW + 'px'; hn.textContent = '#';
    head.appendChild(hn);
    cols.forEach((c, i) => {
      const h = document.createElement('span'); h.className = 'hcell'; h.style.width = widths[i] + 'px'; h.title = c.name + ' ' + c.type;
      h.textContent = c.name;
      const t = document.createElement('span'); t.className = 't'; t.textContent = c.type.toLowerCase();
      h.appendChild(t); head.appendChild(h);
    });
    const total = numW + widths.reduce((a, b) => a + b, 0);
    $('grid-rows').style.height = (data.rows.length * ROW_H) + 'px';
    $('grid-rows').style.width = total + 'px';
    head.style.width = '100%';
    $('grid-body').scrollTop = 0;
    state.rendered = null;
    renderRows();
    setupChart();
    tab('results');
  }
  function isNum(t) { return /INT|DOUBLE|FLOAT|DECIMAL|HUGEINT/.test(t); }
  function renderRows() {
    const data = state.result;
    if (!data) return;
    const body = $('grid-body');
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_H) - 10);
    const last = Math.min(data.rows.length, Math.ceil((body.scrollTop + body.clientHeight) / ROW_H) + 10);
    if (state.rendered && state.rendered[0] === first && state.rendered[1] === last) return;
    state.rendered = [first, last];
    const frag = document.createDocumentFragment();
    const nums = data.columns.map((c) => isNum(c.type));
    for (let r = first; r < last; r++) {
      const row = document.createElement('div'); row.className = 'row'; row.style.top = (r * ROW_H) + 'px';
      const n = document.createElement('span'); n.className = 'cell rownum'; n.style.width = state.numW + 'px'; n.textContent = r + 1;
      row.appendChild(n);
      const vals = data.rows[r];
      for (let c = 0; c < vals.length; c++) {
        const cell = document.createElement('span');
        const v = vals[c];
        cell.className = 'cell' + (nums[c] ? ' num' : '') + (v === null ? ' null' : '');
        cell.style.width = state.widths[c] + 'px';
        cell.textContent = v === null ? 'NULL' : (typeof v === 'object' ? JSON.stringify(v) : String(v));
        row.appendChild(cell);
      }
      frag.appendChild(row);
    }
    const rows = $('grid-rows');
    rows.textContent = '';
    rows.appendChild(frag);
  }
  $('grid-body').addEventListener('scroll', () => {
    $('grid-head').scrollLeft = $('grid-body').scrollLeft;
    requestAnimationFrame(renderRows);
  });
  window.addEventListener('resize', () => { state.rendered = null; renderRows(); drawChart(); });

  // ---- chart ---------------------------------------------------------------
  function setupChart() {
    const data = state.result, xs = $('chart-x'), ys = $('chart-y');
    xs.textContent = ''; ys.textContent = '';
    let xDefault = -1, yDefault = -1;
    data.columns.forEach((c, i) => {
      xs.add(new Option(c.name, i));
      if (isNum(c.type)) { ys.add(new Option(c.name, i)); if (yDefault < 0) yDefault = i; }
      if (xDefault < 0 && /DATE|TIME|VARCHAR|BOOLEAN/.test(c.type)) xDefault = i;
    });
    if (xDefault < 0) xDefault = 0;
    xs.value = xDefault; if (yDefault >= 0) ys.value = yDefault;
    $('chart-type').value = /DATE|TIME/.test((data.columns[xDefault] || {}).type || '') ? 'line' : 'bar';
    drawChart();
  }
  function drawChart() {
    const cv = $('chart-canvas'), data = state.result;
    if (!data || $('chart').hidden) return;
    cv.width = Math.max(300, cv.parentElement.clientWidth - 16);
    const ctx = cv.getContext('2d'), W = cv.width, H = cv.height;
    ctx.clearRect(0, 0, W, H);
    const xi = parseInt($('chart-x').value, 10), yi = parseInt($('chart-y').value, 10);
    if (isNaN(yi)) { ctx.fillText('No numeric column to plot.', 20, 30); return; }
    let pts = data.rows.slice(0, 1000).map((r) => [r[xi], Number(r[yi])]).filter((p) => isFinite(p[1]));
    const type = $('chart-type').value;
    if (type === 'line') pts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (pts.length === 0) return;
    const L = 70, R = 16, T = 16, B = 60;
    const maxY = Math.max(0, ...pts.map((p) => p[1])), minY = Math.min(0, ...pts.map((p) => p[1]));
    const span = (maxY - minY) || 1;
    const y = (v) => T + (H - T - B) * (1 - (v - minY) / span);
    const step = (W - L - R) / pts.length;
    ctx.strokeStyle = '#c9d0d8'; ctx.fillStyle = '#5d6875'; ctx.font = '11px system-ui';
    for (let i = 0; i <= 4; i++) {
      const v = minY + span * i / 4, yy = y(v);
      ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(W - R, yy); ctx.stroke();
      ctx.fillText(Number(v.toPrecision(4)).toLocaleString(), 4, yy + 4);
    }
    ctx.fillStyle = '#1b6ac9'; ctx.strokeStyle = '#1b6ac9'; ctx.lineWidth = 2;
    if (type === 'bar') {
      pts.forEach((p, i) => { const y0 = y(0), y1 = y(p[1]); ctx.fillRect(L + i * step + step * 0.1, Math.min(y0, y1), Math.max(1, step * 0.8), Math.abs(y1 - y0)); });
    } else {
      ctx.beginPath();
      pts.forEach((p, i) => { const xx = L + i * step + step / 2; if (i) ctx.lineTo(xx, y(p[1])); else ctx.moveTo(xx, y(p[1])); });
      ctx.stroke();
    }
    ctx.fillStyle = '#1d232b';
    const every = Math.ceil(pts.length / Math.max(1, Math.floor((W - L - R) / 80)));
    pts.forEach((p, i) => {
      if (i % every) return;
      ctx.save(); ctx.translate(L + i * step + step / 2, H - B + 12); ctx.rotate(Math.PI / 6);
      ctx.fillText(String(p[0]).slice(0, 16), 0, 0); ctx.restore();
    });
  }
  ['chart-x', 'chart-y', 'chart-type'].forEach((id) => $(id).addEventListener('change', drawChart));

  // ---- tabs and history ------------------------------------------------------
  function tab(name) {
    document.querySelectorAll('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
    document.querySelectorAll('.tab').forEach((t) => { t.hidden = t.id !== name; });
    if (name === 'results') { state.rendered = null; renderRows(); }
    if (name === 'chart') drawChart();
  }
  document.querySelectorAll('#tabs button').forEach((b) => b.addEventListener('click', () => tab(b.dataset.tab)));
  function loadHistory() { try { return JSON.parse(localStorage.getItem(HISTORY)) || []; } catch (e) { return []; } }
  function remember(sql, rows, ms) {
    const h = loadHistory().filter((e) => e.sql !== sql);
    h.unshift({ sql, rows, ms, at: new Date().toISOString() });
    localStorage.setItem(HISTORY, JSON.stringify(h.slice(0, 100)));
    renderHistory();
  }
  function renderHistory() {
    const ol = $('history-list');
    ol.textContent = '';
    for (const e of loadHistory()) {
      const li = document.createElement('li');
      li.textContent = e.sql;
      const m = document.createElement('div'); m.className = 'meta';
      m.textContent = e.at.replace('T', ' ').slice(0, 19) + ' · ' + (e.rows || 0).toLocaleString() + ' rows';
      li.appendChild(m);
      li.addEventListener('click', () => { $('editor').value = e.sql; highlight(); $('editor').focus(); });
      ol.appendChild(li);
    }
  }
  $('history-clear').addEventListener('click', () => { localStorage.removeItem(HISTORY); renderHistory(); });

  // ---- start -------------------------------------------------------------------
  if (key()) signIn(key()); else signOut('');
})();
