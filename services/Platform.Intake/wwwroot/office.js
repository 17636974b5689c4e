'use strict';
// The office: one page over the intake's own API (docs/office.md). The session is an HttpOnly cookie this script never
// sees; the user's view is live from GET /v1/events and the admin's fleet from GET /v1/admin/events (no polling).
(() => {
  const $ = id => document.getElementById(id);

  // The tiers' slots as DESIGN.md gives their defaults: the API has no endpoint that lists tiers.
  const TIERS = [['free', 1], ['starter', 3], ['pro', 10], ['enterprise', 50]];
  const WAIT_REASON_MIN_MS = 2000;

  const state = {
    session: null,
    events: null,
    reconnect: null,
    queue: null,
    batches: new Map(),
    waitingAsked: 0,
    waitingTimer: null,
  };

  class ApiError extends Error {
    constructor(status, problem) {
      super(describeProblem(problem, status));
      this.status = status;
      this.problem = problem;
    }
  }

  function describeProblem(problem, status) {
    if (!problem) return `the intake answered ${status}`;
    const fields = problem.errors ? Object.entries(problem.errors).map(([f, m]) => `${f}: ${[].concat(m).join(' ')}`) : [];
    return problem.detail || fields.join('; ') || problem.title || `the intake answered ${status}`;
  }

  // Every call goes through here: the cookie rides along by itself; a state-changing call adds the same-origin proof.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-Platform-Office'] = '1';
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    if (text) {
      try { json = JSON.parse(text); } catch { json = null; }
    }
    if (!response.ok) {
      if (response.status === 401 && state.session && path !== '/v1/session') signedOut('Your session ended (the key may have been rotated). Sign in again.');
      throw new ApiError(response.status, json);
    }
    return json;
  }

  // ---------------------------------------------------------------------------------------------- formatting

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return 'unknown yet';
    if (seconds <= 0) return 'done';
    if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s`;
    if (seconds < 3600) return `about ${Math.round(seconds / 60)} min`;
    const h = Math.floor(seconds / 3600);
    return `about ${h} h ${Math.round((seconds - h * 3600) / 60)} min`;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function cell(value) {
    if (value === null || value === undefined) return '–';
    if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  // ---------------------------------------------------------------------------------------------- session

  async function start() {
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', signOut);
    $('submit-form').addEventListener('submit', submitBatch);
    $('batch-file').addEventListener('change', previewFile);
    try {
      enter(await api('GET', '/v1/session'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) showSignIn('');
      else showSignIn(`The intake cannot be reached: ${e.message}`);
    }
  }

  function showSignIn(message) {
    $('sign-in').hidden = false;
    $('user-view').hidden = true;
    $('admin-view').hidden = true;
    $('who').hidden = true;
    $('sign-in-error').textContent = message;
    $('api-key').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const input = $('api-key');
    const key = input.value.trim();
    $('sign-in-error').textContent = '';
    if (!key) {
      $('sign-in-error').textContent = 'Enter your API key.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    try {
      await api('POST', '/v1/session', { apiKey: key });
      input.value = '';
      input.removeAttribute('aria-invalid');
      enter(await api('GET', '/v1/session'));
    } catch (e) {
      $('sign-in-error').textContent = e.status === 401 ? 'This API key is unknown or was rotated.' : e.message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  async function signOut() {
    try { await api('DELETE', '/v1/session'); } catch { /* the cookie is cleared either way below */ }
    signedOut('');
  }

  function signedOut(message) {
    stopStreams();
    state.session = null;
    state.queue = null;
    state.batches.clear();
    $('batches').replaceChildren();
    $('desks').replaceChildren();
    showSignIn(message);
  }

  function enter(session) {
    state.session = session;
    $('sign-in').hidden = true;
    $('who').hidden = false;
    $('who-text').textContent = session.role === 'admin' ? 'Signed in as the admin' : `Signed in as ${session.userId} (${session.tier})`;
    if (session.role === 'admin') enterAdmin();
    else enterUser();
    $('main').focus();
  }

  function stopStreams() {
    if (state.events) state.events.close();
    state.events = null;
    clearTimeout(state.reconnect);
    clearTimeout(state.waitingTimer);
    $('connection').hidden = true;
  }

  // ---------------------------------------------------------------------------------------------- the user's view

  async function enterUser() {
    $('admin-view').hidden = true;
    $('user-view').hidden = false;
    openEvents();
    try {
      const page = await api('GET', '/v1/batches?limit=50');
      // The stream may already have told newer figures: the list only adds batches not seen yet.
      for (const view of page.items) if (!state.batches.has(view.batchId)) upsertBatch(view, false);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) $('no-batches').textContent = `Batches could not be listed: ${e.message}`;
    }
  }

  function openEvents() {
    openStream('/v1/events', {
      queue: renderQueue,
      progress: view => upsertBatch(view, true),
    });
  }

  function batchName(batchId) {
    const known = state.batches.get(batchId);
    if (known) return known.view.name;
    const queued = state.queue?.batches?.find(b => b.batchId === batchId);
    // The id's last 8 characters: a UUIDv7 begins with its timestamp, shared by batches of the same minute.
    return queued ? queued.name : String(batchId).slice(-8);
  }

  function renderQueue(queue) {
    state.queue = queue;
    renderDesks(queue);
    $('q-running').textContent = `${queue.running} of ${queue.concurrency}`;
    $('q-queued').textContent = String(queue.queued);
    $('q-eta').textContent = queue.queued + queue.running === 0 ? 'nothing to do' : duration(queue.etaSeconds);
    $('q-tier').textContent = `${queue.tier} (${queue.concurrency} ${queue.concurrency === 1 ? 'desk' : 'desks'})`;
    // The queue's own counters are as fresh as its progress events (one stream, in order).
    for (const b of queue.batches || []) upsertBatch(state.batches.has(b.batchId) ? b : { cancelled: 0, etaSeconds: null, ...b }, true);
    renderWaiting(queue);
    renderUpgrade(queue);
  }

  function renderDesks(queue) {
    const list = $('desks');
    $('desk-count').textContent = `(${queue.slots.length})`;
    while (list.children.length > queue.slots.length) list.lastElementChild.remove();
    while (list.children.length < queue.slots.length) {
      const desk = el('li', null, 'desk');
      desk.append(el('span', null, 'desk-label'), el('span', null, 'desk-key'), el('span', null, 'desk-batch'));
      list.append(desk);
    }
    queue.slots.forEach((slot, i) => {
      const desk = list.children[i];
      const busy = !!slot.taskId;
      desk.dataset.slot = String(slot.slot);
      desk.dataset.state = busy ? 'busy' : 'idle';
      desk.dataset.taskId = busy ? slot.taskId : '';
      desk.dataset.batchId = busy ? slot.batchId : '';
      desk.querySelector('.desk-label').textContent = `Desk ${slot.slot + 1}`;
      desk.querySelector('.desk-key').textContent = busy ? (slot.key ?? 'a task') : 'idle';
      desk.querySelector('.desk-batch').textContent = busy ? `batch ${batchName(slot.batchId)}` : '';
    });
  }

  // Why the next task waits: all desks busy is known from the queue itself; anything else (the shared fleet, the
  // provider's budget, a retry's time) the oldest queued task says, asked at most every WAIT_REASON_MIN_MS on a change.
  function renderWaiting(queue) {
    const target = $('q-waiting');
    if (queue.queued === 0 || queue.running >= queue.concurrency) delete target.dataset.asked;
    if (queue.queued === 0) {
      target.textContent = queue.running === 0 ? 'Nothing is waiting.' : 'Nothing is waiting: every task has a desk.';
      return;
    }
    if (queue.running >= queue.concurrency) {
      target.textContent = `The next task waits for a free desk: all ${queue.concurrency} of yours are busy.`;
      return;
    }
    // Said at once, refined when the oldest queued task has told what it waits for.
    if (!target.dataset.asked) target.textContent = 'The next task waits for the shared workers.';
    clearTimeout(state.waitingTimer);
    const wait = Math.max(0, state.waitingAsked + WAIT_REASON_MIN_MS - Date.now());
    state.waitingTimer = setTimeout(async () => {
      state.waitingAsked = Date.now();
      const batch = (state.queue?.batches || []).find(b => b.queued > 0);
      if (!batch) return;
      try {
        const page = await api('GET', `/v1/batches/${batch.batchId}/tasks?status=queued&limit=1`);
        const waiting = page.items[0]?.waitingFor;
        // The queue may have moved on while the question was out: only a still-valid answer is shown.
        const now = state.queue;
        if (!now || now.queued === 0 || now.running >= now.concurrency) return;
        target.dataset.asked = 'yes';
        target.textContent = waiting ? `The next task waits: ${waiting.detail}` : 'The next task is about to start.';
      } catch {
        target.textContent = 'The next task is waiting for a worker.';
      }
    }, wait);
  }

  function renderUpgrade(queue) {
    const target = $('q-upgrade');
    const remaining = queue.queued + queue.running;
    const current = queue.concurrency;
    const next = TIERS.find(([, slots]) => slots > current);
    if (!next || !queue.etaSeconds || remaining <= current) {
      target.textContent = '';
      return;
    }
    // The ETA is rounds of `concurrency` tasks times the mean task duration: the same rounds with more desks.
    const perRound = queue.etaSeconds / Math.ceil(remaining / current);
    const faster = Math.ceil(remaining / next[1]) * perRound;
    target.textContent = `With ${next[0]}: ${next[1]} desks, ${duration(faster)} instead of ${duration(queue.etaSeconds)}.`;
  }

  function upsertBatch(view, live) {
    let entry = state.batches.get(view.batchId);
    if (!entry) {
      const node = $('batch-template').content.firstElementChild.cloneNode(true);
      entry = { view, node, announced: 0 };
      state.batches.set(view.batchId, entry);
      node.dataset.batchId = view.batchId;
      node.querySelector('.batch-cancel').addEventListener('click', () => cancelBatch(view.batchId));
      const id = encodeURIComponent(view.batchId);
      node.querySelector('.batch-csv').href = `/v1/batches/${id}/results?format=csv`;
      node.querySelector('.batch-jsonl').href = `/v1/batches/${id}/results?format=jsonl`;
      // Newest first, as the API lists them.
      const list = $('batches');
      if (live) list.prepend(node);
      else list.append(node);
      $('no-batches').hidden = true;
    }
    entry.view = { ...entry.view, ...view };
    renderBatch(entry, live);
  }

  const FINISHED = new Set(['completed', 'completed_with_failures', 'cancelled']);

  function renderBatch(entry, live) {
    const v = entry.view;
    const node = entry.node;
    const done = (v.completed || 0) + (v.failed || 0) + (v.cancelled || 0);
    const total = v.total || 0;
    const name = v.name || String(v.batchId).slice(-8);
    const finished = FINISHED.has(v.status);
    node.dataset.status = v.status;
    node.dataset.done = String(done);
    node.dataset.total = String(total);
    node.querySelector('.batch-name').textContent = name;
    node.querySelector('.batch-status').textContent = v.status.replaceAll('_', ' ');
    const bar = node.querySelector('.batch-progress');
    bar.max = Math.max(1, total);
    bar.value = done;
    bar.setAttribute('aria-label', `Progress of ${name}`);
    const percent = total === 0 ? 100 : Math.floor((done * 100) / total);
    bar.setAttribute('aria-valuetext', `${percent}% (${done} of ${total})`);
    const parts = [`${percent}% · ${done} of ${total} done`, `${v.running || 0} running`, `${v.queued || 0} queued`, `${v.failed || 0} failed`];
    if (v.cancelled) parts.push(`${v.cancelled} cancelled`);
    if (!finished && v.etaSeconds !== undefined) parts.push(`done in ${duration(v.etaSeconds)}`);
    node.querySelector('.batch-counters').textContent = parts.join(' · ');
    const cancel = node.querySelector('.batch-cancel');
    cancel.hidden = finished;
    cancel.disabled = v.status === 'cancelling';
    cancel.setAttribute('aria-label', `Cancel batch ${name}`);
    node.querySelector('.batch-csv').setAttribute('aria-label', `Download the results of ${name} as CSV`);
    node.querySelector('.batch-jsonl').setAttribute('aria-label', `Download the results of ${name} as JSONL`);
    // Screen readers hear each quarter and the end, not every counter change.
    const quarter = finished ? 4 : Math.floor(percent / 25);
    if (live && quarter > entry.announced) {
      entry.announced = quarter;
      $('progress-announcer').textContent = finished ? `Batch ${name} ${v.status.replaceAll('_', ' ')}.` : `Batch ${name}: ${percent}% done.`;
    } else if (!live) {
      entry.announced = Math.max(entry.announced, quarter);
    }
  }

  async function cancelBatch(batchId) {
    const entry = state.batches.get(batchId);
    try {
      const accepted = await api('DELETE', `/v1/batches/${encodeURIComponent(batchId)}`);
      if (entry && accepted?.status) upsertBatch({ batchId, status: accepted.status }, true);
    } catch (e) {
      $('progress-announcer').textContent = `Could not cancel: ${e.message}`;
    }
  }

  // ---------------------------------------------------------------------------------------------- submitting

  // RFC 4180: quoted fields may hold commas, quotes ("") and line breaks; rows end with CRLF or LF.
  function parseCsv(text) {
    const rows = [];
    let row = [];
    let field = '';
    let quoted = false;
    let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
    for (; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"' && field === '') quoted = true;
      else if (c === ',') { row.push(field); field = ''; }
      else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i++;
        row.push(field); rows.push(row); row = []; field = '';
      } else field += c;
    }
    if (quoted) throw new Error('the file ends inside a quoted field');
    if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
    return rows.filter(r => !(r.length === 1 && r[0].trim() === ''));
  }

  function tasksFromCsv(text) {
    const rows = parseCsv(text);
    if (rows.length === 0) throw new Error('the file is empty: it needs a header row and one row per task');
    const header = rows[0].map(h => h.trim());
    if (header.some(h => h === '')) throw new Error('the header row has an empty column name');
    const duplicate = header.find((h, i) => header.indexOf(h) !== i);
    if (duplicate) throw new Error(`the header row names "${duplicate}" twice`);
    if (rows.length === 1) throw new Error('the file has a header row but no tasks');
    const keyColumn = header.indexOf('key');
    const width = String(rows.length - 1).length;
    const tasks = rows.slice(1).map((r, i) => {
      if (r.length !== header.length) throw new Error(`row ${i + 2} has ${r.length} fields; the header has ${header.length}`);
      const input = {};
      header.forEach((name, c) => {
        if (c === keyColumn) return;
        const value = r[c];
        // A cell holding a JSON object or array (such as a `simulate` column) is sent as that JSON.
        if (/^\s*[{[]/.test(value)) {
          try { input[name] = JSON.parse(value); return; } catch { /* plain text after all */ }
        }
        input[name] = value;
      });
      const key = keyColumn >= 0 ? r[keyColumn].trim() : String(i + 1).padStart(width, '0');
      return { key, input };
    });
    return { tasks, fields: header.filter((_, c) => c !== keyColumn), keyed: keyColumn >= 0 };
  }

  async function readChosenFile() {
    const file = $('batch-file').files[0];
    if (!file) throw new Error('choose a CSV file');
    return { file, parsed: tasksFromCsv(await file.text()) };
  }

  async function previewFile() {
    const summary = $('file-summary');
    try {
      const { file, parsed } = await readChosenFile();
      if (!$('batch-name').value) $('batch-name').value = file.name.replace(/\.csv$/i, '');
      summary.textContent = `${parsed.tasks.length} tasks, fields: ${parsed.fields.join(', ') || 'none'}; ` +
        (parsed.keyed ? 'keys from the key column.' : 'keys are the row numbers.');
    } catch (e) {
      summary.textContent = `This file cannot be used: ${e.message}.`;
    }
  }

  async function submitBatch(event) {
    event.preventDefault();
    const error = $('submit-error');
    const button = event.submitter || $('submit-form').querySelector('button[type="submit"]');
    error.textContent = '';
    let tasks;
    try {
      tasks = (await readChosenFile()).parsed.tasks;
    } catch (e) {
      error.textContent = `Tasks: ${e.message}.`;
      $('batch-file').focus();
      return;
    }
    const name = $('batch-name').value.trim();
    const instructions = $('batch-instructions').value;
    const missing = [...instructions.matchAll(/\{([^{}]+)\}/g)].map(m => m[1]).filter(f => !(f in tasks[0].input));
    if (missing.length > 0) {
      error.textContent = `Instructions: ${missing.map(f => `{${f}}`).join(', ')} ${missing.length === 1 ? 'is not a column' : 'are not columns'} of the file.`;
      $('batch-instructions').focus();
      return;
    }
    button.disabled = true;
    try {
      const accepted = await api('POST', '/v1/batches', { name, instructions, tasks });
      upsertBatch({ batchId: accepted.batchId, name, status: accepted.status, total: accepted.total, queued: accepted.total,
        running: 0, completed: 0, failed: 0, cancelled: 0, etaSeconds: null }, true);
      $('submit-form').reset();
      $('file-summary').textContent = `Submitted "${name}": ${accepted.total} tasks.`;
    } catch (e) {
      error.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------------- the admin's view

  function enterAdmin() {
    $('user-view').hidden = true;
    $('admin-view').hidden = false;
    loadUsers();
    openFleetEvents();
  }

  async function loadUsers() {
    const status = $('users-status');
    const body = $('users-table').tBodies[0];
    try {
      const page = await api('GET', '/v1/users?offset=0&limit=500');
      body.replaceChildren(...page.items.map(userRow));
      status.textContent = page.total > page.items.length ? `${page.items.length} of ${page.total} users shown.` : `${page.total} users.`;
    } catch (e) {
      status.textContent = `Users could not be listed: ${e.message}`;
    }
  }

  function userRow(user) {
    const row = el('tr');
    row.dataset.userId = user.userId;
    row.append(el('th', user.userId));
    row.firstChild.scope = 'row';
    const tierCell = el('td');
    const form = el('form');
    const id = `tier-${user.userId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const label = el('label', `Tier of ${user.userId}`, 'visually-hidden');
    label.htmlFor = id;
    const select = el('select');
    select.id = id;
    for (const [tier] of TIERS) {
      const option = el('option', tier);
      option.value = tier;
      select.append(option);
    }
    if (!TIERS.some(([t]) => t === user.tier)) select.append(Object.assign(el('option', user.tier), { value: user.tier }));
    select.value = user.tier;
    const change = el('button', 'Change');
    change.type = 'submit';
    change.setAttribute('aria-label', `Change the tier of ${user.userId}`);
    const result = el('span', '', 'muted');
    result.setAttribute('role', 'status');
    form.append(label, select, change, result);
    form.addEventListener('submit', async e => {
      e.preventDefault();
      change.disabled = true;
      try {
        const updated = await api('PUT', `/v1/users/${encodeURIComponent(user.userId)}/tier`, { tier: select.value });
        row.replaceWith(userRow(updated));
      } catch (err) {
        result.textContent = err.message;
        change.disabled = false;
      }
    });
    tierCell.append(form);
    const quota = user.monthlyQuota === null || user.monthlyQuota === undefined ? `${user.usedThisMonth} / unlimited` : `${user.usedThisMonth} / ${user.monthlyQuota}`;
    row.append(tierCell, el('td', user.concurrency), el('td', quota));
    return row;
  }

  function fillTable(table, items) {
    const keys = [...new Set(items.flatMap(i => Object.keys(i)))];
    const head = el('tr');
    for (const k of keys) {
      const th = el('th', k);
      th.scope = 'col';
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(...items.map(item => {
      const row = el('tr');
      for (const k of keys) row.append(el('td', cell(item[k])));
      return row;
    }));
  }

  // The fleet, live from the admin's stream: each event is the whole view, so a reconnect needs nothing replayed.
  function openFleetEvents() {
    openStream('/v1/admin/events', { fleet: renderFleet });
  }

  // One live stream at a time (the user's queue or the admin's fleet); handlers by event name get the parsed data.
  function openStream(path, handlers) {
    if (state.events) state.events.close();
    const source = new EventSource(path);
    state.events = source;
    source.addEventListener('open', () => { $('connection').hidden = true; });
    for (const [name, handle] of Object.entries(handlers)) source.addEventListener(name, e => handle(JSON.parse(e.data)));
    source.addEventListener('error', async () => {
      if (state.events !== source) return;
      $('connection').hidden = false;
      $('connection').textContent = 'Live updates interrupted; reconnecting…';
      // EventSource retries by itself after a network error, but gives up on an error answer (401 after a rotation).
      if (source.readyState !== EventSource.CLOSED) return;
      try {
        await api('GET', '/v1/session');
        state.reconnect = setTimeout(() => { if (state.events === source) openStream(path, handlers); }, 2000);
      } catch {
        // api() has shown the sign-in form if the session ended.
      }
    });
  }

  function renderFleet(fleet) {
    const live = (fleet.workers || []).filter(w => w.live).length;
    $('fleet-summary').textContent = `${fleet.running} of ${fleet.capacity} units in use; ${live} live worker${live === 1 ? "" : "s"}. Updated ${new Date().toLocaleTimeString()}.`;
    fillTable($('fleet-workers'), fleet.workers || []);
    fillTable($('fleet-shares'), fleet.shares || []);
    const credentials = fleet.credentials || [];
    $('fleet-no-credentials').hidden = credentials.length > 0;
    fillTable($('fleet-credentials'), credentials);
  }

  document.addEventListener('DOMContentLoaded', start);
})();
