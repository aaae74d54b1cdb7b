/*
 * app.js: the page at /, a client of placesd's API (docs/api.md) in plain
 * JavaScript: search (/v1/nearby, every filter, paged by cursor) with
 * suggestions (/v1/autocomplete), a place with its menu and offers
 * (/v1/places/{id}), the day's digest (POST /v1/digest) and the live
 * offers (/v1/offers/stream). Text from the API reaches the page only as
 * textContent: never as HTML.
 */
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  /* An element with attributes and children (strings become text). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  /* ---- errors ---------------------------------------------------------- */

  class ApiError extends Error {
    constructor(message, field, status) {
      super(message);
      this.field = field || null;
      this.status = status;
    }
  }

  function clearError(form) {
    const box = $('error');
    box.hidden = true;
    box.textContent = '';
    if (form) {
      for (const c of form.querySelectorAll('[aria-invalid]'))
        c.removeAttribute('aria-invalid');
    }
  }

  /* The API's own message; the control it names is marked and focused. */
  function showError(err, form) {
    const box = $('error');
    const msg = err instanceof ApiError ? err.message :
      'The server could not be reached: ' + (err && err.message ? err.message : String(err));
    box.textContent = msg;
    box.hidden = false;
    if (form && err instanceof ApiError && err.field) {
      const c = form.querySelector('[data-field="' + CSS.escape(err.field) + '"]');
      if (c) {
        c.setAttribute('aria-invalid', 'true');
        c.focus();
      }
    }
  }

  /* fetch, JSON in and out; an answer that is not 2xx throws ApiError. */
  async function api(path, opts) {
    const res = await fetch(path, Object.assign({
      headers: { Accept: 'application/json' }
    }, opts || {}));
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const e = body && body.error;
      throw new ApiError(e && e.message ? e.message : 'HTTP ' + res.status,
        e && e.field, res.status);
    }
    return body;
  }

  /* ---- formatting ------------------------------------------------------ */

  function metres(m) {
    if (typeof m !== 'number') return '';
    return m < 1000 ? Math.round(m) + ' m' : (m / 1000).toFixed(1) + ' km';
  }

  function money(cents, currency) {
    return (cents / 100).toFixed(2) + ' ' + currency;
  }

  /* "2026-12-07T23:00:00+03:00" -> "2026-12-07 23:00" (the city's time). */
  function localTime(s) {
    return typeof s === 'string' ? s.slice(0, 16).replace('T', ' ') : '';
  }

  function placeSummary(p) {
    const parts = [];
    if (p.rating !== null && p.rating !== undefined) parts.push('rating ' + p.rating.toFixed(1));
    else parts.push('no rating');
    if (p.price_level) parts.push('price ' + '$'.repeat(p.price_level));
    if (p.categories && p.categories.length) parts.push(p.categories.join(', '));
    if (p.cuisines && p.cuisines.length) parts.push(p.cuisines.join(', '));
    return parts.join(' · ');
  }

  function openingText(r) {
    if (r.is_open_now === true)
      return r.closes_at ? 'Open now, closes ' + localTime(r.closes_at) : 'Open now';
    if (r.is_open_now === false)
      return r.opens_at ? 'Closed, opens ' + localTime(r.opens_at) : 'Closed';
    return 'Hours unknown';
  }

  /* ---- cities ---------------------------------------------------------- */

  let cities = [];

  async function loadCities() {
    const sel = $('city');
    const dsel = $('digest-city');
    try {
      const body = await api('/v1/cities');
      cities = body.cities || [];
    } catch (err) {
      sel.replaceChildren(el('option', { value: '', text: 'Cities unavailable' }));
      showError(err);
      return;
    }
    sel.replaceChildren(el('option', { value: '', text: 'A point (type it below)' }));
    dsel.replaceChildren();
    for (const c of cities) {
      sel.append(el('option', { value: c.id, text: c.name + ' (' + c.places + ' places)' }));
      dsel.append(el('option', { value: c.id, text: c.name }));
    }
    if (cities.length) {
      /* the city with the most places first */
      const big = cities.reduce((a, c) => (c.places > a.places ? c : a));
      sel.value = big.id;
      dsel.value = big.id;
      pickCity();
    }
    sel.dataset.loaded = 'true';
  }

  function pickCity() {
    const c = cities.find((x) => x.id === $('city').value);
    if (!c) return;
    $('lat').value = String(c.lat);
    $('lon').value = String(c.lon);
    $('digest-city').value = c.id;
  }

  /* ---- search ---------------------------------------------------------- */

  let lastQuery = null;     /* the parameters of the results shown */
  let nextCursor = null;

  function searchParams() {
    const form = $('search');
    const p = new URLSearchParams();
    for (const c of form.querySelectorAll('input[name], select[name]')) {
      if (c.name === 'city') continue;
      if (c.type === 'checkbox') {
        if (c.checked) p.set(c.name, 'true');
        continue;
      }
      const v = c.value.trim();
      if (v === '') continue;
      if (c.name === 'sort' && v === 'best') continue;
      p.set(c.name, c.name === 'category' || c.name === 'cuisine' ||
        c.name === 'prefer_cuisine' ? v.replace(/\s+/g, '').toLowerCase() : v);
    }
    return p;
  }

  function resultItem(r) {
    const p = r.place;
    const open = el('p', {
      class: r.is_open_now === true ? 'open' : r.is_open_now === false ? 'closed' : null,
      text: openingText(r)
    });
    const name = el('button', { type: 'button', class: 'link', 'data-id': p.id, text: p.name });
    name.addEventListener('click', () => openPlace(p.id, name));
    return el('li', { 'data-id': p.id },
      el('h3', null, name),
      el('p', { class: 'meta', text: metres(r.distance_m) + ' · ' + placeSummary(p) }),
      open,
      r.matched && r.matched.length ?
        el('p', { class: 'matched', text: 'Matched: ' + r.matched.join('; ') }) : null);
  }

  function showResults(body, append) {
    const list = $('results');
    if (!append) list.replaceChildren();
    for (const r of body.results) list.append(resultItem(r));
    nextCursor = body.next;
    $('more').hidden = !nextCursor;
    const shown = list.children.length;
    const total = body.total_exact ? String(body.total) : body.total + '+';
    let s = shown === 0 ? 'No place matches.' :
      'Showing ' + shown + ' of ' + total + ' places.';
    if (body.degraded) s += ' The ranker is away: nearest first, without scores.';
    $('results-status').textContent = s;
  }

  async function search(ev) {
    ev.preventDefault();
    const form = $('search');
    clearError(form);
    const p = searchParams();
    $('results-status').textContent = 'Searching…';
    try {
      const body = await api('/v1/nearby?' + p.toString());
      lastQuery = p;
      showResults(body, false);
    } catch (err) {
      $('results-status').textContent = 'The search failed.';
      showError(err, form);
    }
  }

  async function more() {
    if (!lastQuery || !nextCursor) return;
    clearError();
    const p = new URLSearchParams(lastQuery);
    p.set('after', nextCursor);
    const first = $('results').children.length;
    try {
      const body = await api('/v1/nearby?' + p.toString());
      showResults(body, true);
      const li = $('results').children[first];
      if (li) li.querySelector('button').focus();
    } catch (err) {
      showError(err);
    }
  }

  /* ---- suggestions ----------------------------------------------------- */

  let suggestTimer = null;
  let suggestSeq = 0;

  function suggest() {
    clearTimeout(suggestTimer);
    const text = $('q').value.trim();
    if (text.length < 2) return;
    suggestTimer = setTimeout(async () => {
      const seq = ++suggestSeq;
      const p = new URLSearchParams({ text: text, limit: '8' });
      const lat = $('lat').value.trim(), lon = $('lon').value.trim();
      if (lat && lon) {
        p.set('lat', lat);
        p.set('lon', lon);
      }
      try {
        const body = await api('/v1/autocomplete?' + p.toString());
        if (seq !== suggestSeq) return;
        const dl = $('q-suggestions');
        dl.replaceChildren();
        const seen = new Set();
        for (const s of body.suggestions || []) {
          if (seen.has(s.text)) continue;
          seen.add(s.text);
          dl.append(el('option', { value: s.text, label: s.kind }));
        }
      } catch (err) {
        /* suggestions are a help, not a need: the search still works */
      }
    }, 200);
  }

  /* ---- one place ------------------------------------------------------- */

  const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'],
    ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];

  function offerText(o) {
    return o.title + ' (−' + o.discount_pct + '%, until ' + localTime(o.ends_at) + ' UTC)';
  }

  let placeOpener = null;

  async function openPlace(id, opener) {
    clearError();
    let p;
    try {
      p = await api('/v1/places/' + encodeURIComponent(id));
    } catch (err) {
      showError(err);
      return;
    }
    placeOpener = opener || null;
    $('place-name').textContent = p.name;
    $('place-summary').textContent = placeSummary(p);
    $('place-address').textContent = p.address ? 'Address: ' + p.address : '';
    $('place-description').textContent = p.description || '';
    const hours = $('place-hours');
    hours.replaceChildren();
    if (!p.hours) {
      hours.append(el('li', { text: 'Unknown' }));
    } else {
      for (const [k, name] of DAYS) {
        const iv = p.hours[k] || [];
        hours.append(el('li', {
          text: name + ': ' + (iv.length ? iv.map((x) => x[0] + '–' + x[1]).join(', ') : 'closed')
        }));
      }
    }
    const menu = $('place-menu');
    menu.replaceChildren();
    for (const m of p.menu || [])
      menu.append(el('li', { 'data-id': m.id, text: m.name + ' — ' + money(m.price_cents, m.currency) }));
    if (!menu.children.length) menu.append(el('li', { text: 'No menu.' }));
    const offers = $('place-offers');
    offers.replaceChildren();
    for (const o of p.offers || [])
      offers.append(el('li', { 'data-id': o.id, text: offerText(o) }));
    if (!offers.children.length) offers.append(el('li', { text: 'No offer now.' }));
    const sec = $('place');
    sec.dataset.id = String(p.id);
    sec.hidden = false;
    $('place-name').focus();
  }

  function closePlace() {
    $('place').hidden = true;
    if (placeOpener && document.contains(placeOpener)) placeOpener.focus();
    else $('results-heading').focus();
  }

  /* ---- digest ---------------------------------------------------------- */

  function digestList(title, items, text) {
    const h = el('h3', { text: title + ' (' + items.length + ')' });
    const ul = el('ul', { class: 'plain' });
    for (const it of items) ul.append(el('li', { text: text(it) }));
    if (!items.length) ul.append(el('li', { text: 'None.' }));
    return [h, ul];
  }

  async function digest(ev) {
    ev.preventDefault();
    const form = $('digest-form');
    clearError(form);
    const body = { date: $('digest-date').value, city: $('digest-city').value };
    const cats = $('digest-categories').value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (cats.length) body.categories = cats;
    const lim = $('digest-limit').value.trim();
    if (lim !== '') body.limit = /^\d+$/.test(lim) ? Number(lim) : lim;
    const out = $('digest-output');
    out.textContent = 'Loading the digest…';
    let d;
    try {
      d = await api('/v1/digest', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body)
      });
    } catch (err) {
      out.textContent = '';
      showError(err, form);
      return;
    }
    const names = new Map(d.places.map((p) => [p.id, p.name]));
    const menus = new Map();
    for (const m of d.menu_items) menus.set(m.place_id, (menus.get(m.place_id) || 0) + 1);
    const parts = [el('p', { id: 'digest-title', text: 'Digest of ' + d.city + ' for ' + d.date + '.' })];
    if (d.errors.length) {
      const ul = el('ul', { id: 'digest-errors', class: 'plain' });
      for (const e of d.errors) ul.append(el('li', { class: 'closed', text: e.source + ': ' + e.message }));
      parts.push(el('h3', { text: 'Partly unavailable' }), ul);
    }
    parts.push(...digestList('Events', d.events, (e) =>
      localTime(e.starts_at) + ' ' + e.title + (e.venue ? ' — ' + e.venue : '')));
    parts.push(...digestList('Places', d.places, (p) =>
      p.name + ' · ' + placeSummary(p) + ' · ' + (menus.get(p.id) || 0) + ' dishes'));
    parts.push(...digestList('Offers', d.offers, (o) =>
      (names.get(o.place_id) || 'place ' + o.place_id) + ': ' + offerText(o)));
    out.replaceChildren(...parts);
    out.dataset.loaded = 'true';
  }

  /* ---- live offers ----------------------------------------------------- */

  /*
   * EventSource reconnects by itself when a stream ends (a reload ends
   * every stream with a retry:) and sends Last-Event-ID, so the server
   * replays what was missed. A refused reconnection (a 503 while a new
   * worker connects to its feed) closes the EventSource for good: then a
   * new one is opened with ?last_event_id=. An offer already shown is not
   * shown again.
   */
  const shown = new Set();
  let lastId = null;
  let source = null;
  let received = 0;
  let reopenTimer = null;

  function streamState(text) {
    $('stream-state').textContent = text;
  }

  function onOffer(ev) {
    const pane = $('offers-live');
    received++;
    pane.dataset.received = String(received);
    let o;
    try {
      o = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    const id = Number(ev.lastEventId || o.id);
    if (lastId === null || id > lastId) lastId = id;
    if (shown.has(id)) {
      pane.dataset.duplicates = String(Number(pane.dataset.duplicates || 0) + 1);
      return;
    }
    shown.add(id);
    pane.prepend(el('li', { 'data-id': id },
      el('span', { class: 'badge', text: '−' + o.discount_pct + '%' }),
      el('span', { text: o.title }),
      el('span', { class: 'meta', text: o.city + ', place ' + o.place_id + ', until ' + localTime(o.ends_at) + ' UTC' })));
    while (pane.children.length > 100) pane.lastChild.remove();
  }

  function openStream() {
    clearTimeout(reopenTimer);
    const url = '/v1/offers/stream' + (lastId !== null ? '?last_event_id=' + lastId : '');
    const es = new EventSource(url);
    source = es;
    es.addEventListener('open', () => streamState('Live.'));
    es.addEventListener('offer', onOffer);
    es.addEventListener('error', () => {
      if (es !== source) return;
      if (es.readyState === EventSource.CLOSED) {
        streamState('Refused by the server; trying again…');
        reopenTimer = setTimeout(openStream, 2000);
      } else {
        streamState('Reconnecting…');
      }
    });
  }

  /* ---- start ----------------------------------------------------------- */

  function today() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }

  function start() {
    $('search').addEventListener('submit', search);
    $('city').addEventListener('change', pickCity);
    $('q').addEventListener('input', suggest);
    $('more').addEventListener('click', more);
    $('place-close').addEventListener('click', closePlace);
    $('place').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') closePlace();
    });
    $('digest-form').addEventListener('submit', digest);
    $('digest-date').value = today();
    loadCities();
    openStream();
    /* a page kept in the back/forward cache holds no stream (nor one of
     * the browser's few connections to the server); back on it, a new
     * stream resumes after the last offer shown */
    window.addEventListener('pagehide', () => {
      clearTimeout(reopenTimer);
      if (source) source.close();
      source = null;
    });
    window.addEventListener('pageshow', (e) => {
      if (e.persisted) openStream();
    });
  }

  if (document.readyState === 'loading')
    document.addEventListener('DOMContentLoaded', start);
  else
    start();
}());
