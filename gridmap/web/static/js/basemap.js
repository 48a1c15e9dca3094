/*
 * gridmap pages: the basemap. None by default (the pages work with no network); the server's
 * config (#gm-config basemap: {basemaps, default, custom}, see gridmap.maps.pages.basemap_config)
 * lists the ones offered: 天地图 with its key, intranet XYZ/WMTS servers, and whether a reader may
 * type a URL of their own.
 *
 * - basemapChoices(): the offered basemaps, the default id and whether custom URLs are allowed.
 * - checkTemplate(url): a typed URL as a Leaflet tile template (WMTS {TileMatrix}/{TileRow}/{TileCol}
 *   become {z}/{y}/{x}), or the Chinese reason it cannot be one (as gridmap.config.tile_template).
 * - showBasemap(map, choice, opts): draws a choice ('none', an id, or {url} of a custom one): the
 *   base layer under the areas (Leaflet's tilePane), its label layer (天地图 cva/cia) in its own pane
 *   above the area fills (400) and below the outlines (420). Tile errors call opts.onError once
 *   with '底图无法加载：…'; nothing else breaks.
 * - basemapControl(map, opts): /map's labelled <select> 底图 (and the custom URL input), which
 *   remembers the choice in localStorage.
 */
import {config, el} from './common.js';

export const NONE = 'none';
export const CUSTOM = 'custom';
const STORE = 'gridmap.basemap';
const LABEL_PANE = 'gm-basemap-labels';
const WMTS = {tilematrix: 'z', tilerow: 'y', tilecol: 'x', z: 'z', x: 'x', y: 'y', '-y': '-y', s: 's'};

/* {basemaps: [{id, name, url, labels, attribution, subdomains, maxNativeZoom}], default, custom} */
export function basemapChoices() {
  const b = config.basemap || {};
  return {basemaps: b.basemaps || [], default: b.default || NONE, custom: !!b.custom};
}

function offered(id) {
  const list = basemapChoices().basemaps;
  for (let i = 0; i < list.length; i++) {
    if (list[i].id === id) {
      return list[i];
    }
  }
  return null;
}

/* A typed URL as {url} (a Leaflet tile template) or {error} (Chinese). */
export function checkTemplate(text) {
  const raw = (text || '').trim();
  const unknown = [];
  const url = raw.replace(/\{([^{}]*)\}/g, (all, name) => {
    const key = WMTS[name.trim().toLowerCase()];
    if (!key) {
      unknown.push(all);
      return all;
    }
    return `{${key}}`;
  });
  const m = /^(https?):\/\/([^/?#]+)/i.exec(url);
  if (!m || /[\s'"<>\\]/.test(url) || !/^[A-Za-z0-9.\-{}[\]:]+$/.test(m[2])) {
    return {error: '底图地址应为 http:// 或 https:// 开头的瓦片地址。'};
  }
  if (unknown.length) {
    return {
      error: `地址含未知的占位符 ${unknown.join(' ')}：可用 {z} {x} {y} {s}，或 WMTS 的 {TileMatrix} {TileRow} {TileCol}。`
    };
  }
  if (url.indexOf('{z}') < 0 || url.indexOf('{x}') < 0 || (url.indexOf('{y}') < 0 && url.indexOf('{-y}') < 0)) {
    return {error: '地址缺少瓦片占位符：应含 {z} {x} {y}，或 WMTS 的 {TileMatrix} {TileRow} {TileCol}。'};
  }
  return {url: url};
}

/* The basemap of a choice: an offered one, {url} typed by the reader, or null (none / unknown). */
function resolve(choice) {
  if (choice && typeof choice === 'object') {
    const checked = checkTemplate(choice.url);
    return checked.url
      ? {id: CUSTOM, name: '自定义底图', url: checked.url, labels: null, attribution: '自定义底图', subdomains: 'abc'}
      : null;
  }
  return choice && choice !== NONE ? offered(choice) : null;
}

/*
 * Draws `choice` on `map` ('none', an offered id, or {url}); returns the layer group (or null).
 * opts.onError(text): called once if the basemap's tiles fail (server unreachable, wrong key).
 */
export function showBasemap(map, choice, opts) {
  opts = opts || {};
  const b = resolve(choice);
  if (!b) {
    return null;
  }
  if (!map.getPane(LABEL_PANE)) {
    const pane = map.createPane(LABEL_PANE);
    pane.style.zIndex = 410;
    pane.style.pointerEvents = 'none';
  }
  let failed = false;
  const onError = () => {
    if (!failed && opts.onError) {
      failed = true;
      opts.onError(`底图无法加载：${b.name}（底图服务器无法访问，或密钥无效）。`);
    }
  };
  const options = {
    subdomains: b.subdomains || 'abc',
    maxZoom: 22,
    maxNativeZoom: b.maxNativeZoom || 18,
    crossOrigin: false
  };
  const base = L.tileLayer(b.url, L.extend({attribution: b.attribution, className: 'gm-basemap-tiles'}, options));
  const group = L.layerGroup([base]);
  base.on('tileerror', onError);
  if (b.labels) {
    const labels = L.tileLayer(b.labels, L.extend({pane: LABEL_PANE, className: 'gm-basemap-labels'}, options));
    labels.on('tileerror', onError);
    group.addLayer(labels);
  }
  group.gmBasemap = b;
  return group.addTo(map);
}

function stored() {
  try {
    const v = JSON.parse(localStorage.getItem(STORE) || 'null');
    return v && (typeof v === 'string' || typeof v.url === 'string') ? v : null;
  } catch (_e) {
    return null;
  }
}
function store(choice) {
  try {
    localStorage.setItem(STORE, JSON.stringify(choice));
  } catch (_e) {
    // private windows may refuse: the choice still holds for this page
  }
}

/* Whether a choice can be shown here: none, an offered id, or {url} when custom URLs are allowed. */
export function validChoice(choice) {
  if (choice === NONE) {
    return true;
  }
  if (choice && typeof choice === 'object') {
    return basemapChoices().custom && !!checkTemplate(choice.url).url;
  }
  return !!offered(choice);
}

/*
 * /map's choice: a labelled <select> 底图 in opts.container with 无底图（离线）, the offered ones and,
 * when allowed, 自定义 XYZ/WMTS… (a URL input and 应用, checked by checkTemplate).
 * opts.initial: the choice to start with (from the URL hash; else the remembered one, else the
 * settings' default); opts.onChange(choice, shown): after each change (shown: a basemap is drawn);
 * opts.onError(text): tile errors. Returns {choice(), set(choice)}.
 */
export function basemapControl(map, opts) {
  const c = basemapChoices();
  let choice = [opts.initial, stored(), c.default].filter((v) => v !== null && v !== undefined && validChoice(v))[0];
  if (choice === undefined) {
    choice = NONE;
  }
  let layer = null;
  const select = el(
    'select',
    {id: 'gm-basemap', className: 'gm-input gm-basemap-select'},
    el('option', {value: NONE}, '无底图（离线）'),
    c.basemaps.map((b) => el('option', {value: b.id}, b.name)),
    c.custom ? el('option', {value: CUSTOM}, '自定义 XYZ/WMTS…') : null
  );
  const input = el('input', {
    id: 'gm-basemap-url',
    type: 'url',
    className: 'gm-input',
    placeholder: 'http://…/{z}/{x}/{y}.png',
    spellcheck: 'false',
    autocomplete: 'off'
  });
  const apply = el('button', {type: 'button', className: 'gm-btn gm-btn-ghost', id: 'gm-basemap-apply'}, '应用');
  const error = el('p', {className: 'gm-basemap-error', id: 'gm-basemap-error', role: 'alert', hidden: true});
  const custom = el(
    'div',
    {className: 'gm-basemap-custom', id: 'gm-basemap-custom', hidden: true},
    el('label', {for: 'gm-basemap-url', className: 'gm-basemap-label'}, '瓦片地址（XYZ 或 WMTS）'),
    el('div', {className: 'gm-export-row'}, input, apply),
    error
  );
  const box = el(
    'div',
    {className: 'gm-basemap'},
    el('label', {for: 'gm-basemap', className: 'gm-basemap-label'}, '底图'),
    select,
    custom
  );
  opts.container.appendChild(box);

  function draw(next) {
    if (layer) {
      map.removeLayer(layer);
    }
    choice = next;
    layer = showBasemap(map, next, {onError: opts.onError});
    store(next);
    select.value = typeof next === 'object' ? CUSTOM : next;
    custom.hidden = typeof next !== 'object';
    if (typeof next === 'object') {
      input.value = next.url;
    }
    if (opts.onChange) {
      opts.onChange(next, !!layer);
    }
  }
  function applyTyped() {
    const checked = checkTemplate(input.value);
    error.hidden = !checked.error;
    error.textContent = checked.error || '';
    input.setAttribute('aria-invalid', String(!!checked.error));
    if (checked.url) {
      draw({url: checked.url});
    }
  }
  select.addEventListener('change', () => {
    if (select.value === CUSTOM) {
      custom.hidden = false;
      input.focus();
      return; // drawn when 应用 is pressed
    }
    error.hidden = true;
    draw(select.value);
  });
  apply.addEventListener('click', applyTyped);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      applyTyped();
    }
  });
  draw(choice);
  return {
    choice: () => choice,
    set: (next) => {
      if (validChoice(next)) {
        draw(next);
      }
    }
  };
}
