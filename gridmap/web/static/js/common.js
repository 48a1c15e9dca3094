/*
 * gridmap pages: what /map, /embed and /upload share. A native ES module (no build step): map.js,
 * embed.js and upload.js import what they need from it. It runs after the classic scripts Leaflet,
 * Leaflet.VectorGrid and vectorgrid-shim.js, which define the global L.
 *
 * - config: the server's inline JSON config (#gm-config): base URL, basemap, the page's options, and
 *   the vocabulary gridmap defines once in Python (gridmap/api/routers/pages.py, vocabulary()).
 * - RATE_CLASSES / NO_DATA / TARGET / METRICS / rateClass: THE legend classes of 上云率 and 安装率, for
 *   every page: gridmap.maps.coverage_map's RATE_CLASSES, NO_DATA, TARGET and METRICS, from the config
 *   (the same breaks and colours as the exported maps).
 * - LEVELS, KINDS, SEVERITIES, UPLOAD_EXTENSIONS: the levels, the kinds and severities of validation
 *   findings and the extensions an upload may have, from the config as well.
 * - api: JSON requests to /api/v1 (token in the Authorization header; errors as ApiError with the
 *   server's stable code and Chinese message).
 * - areaGrid: Leaflet.VectorGrid layers on /tiles/{layer}/{z}/{x}/{y}.mvt, with restyle (switch
 *   metric without refetching), featuresOf (every feature drawn, each once) and hitTest (what is
 *   under a point).
 * - el: builds DOM; every data string goes in as a text node (never innerHTML).
 *
 * Syntax: ES2017 in native modules (Chromium 61 and later), no build step. Optional chaining and
 * other ES2020 syntax are left out (Biome's useOptionalChain is off): county offices still run
 * Chromium-based browsers older than that, and a module that does not parse leaves a blank page.
 * `npx biome ci gridmap/web/static/js` lints and checks the formatting (biome.json).
 */
export const config = JSON.parse(document.getElementById('gm-config').textContent);
const base = config.base || '/';

/* ---------------------------------------------------------------- the shared vocabulary */

/*
 * Rate classes, worst first; lower bound included, upper bound excluded, in whole percent
 * ({key, label, lower, upper, colour}; null: unbounded). Warm below the 95% target, cool at or
 * above it (ColorBrewer RdYlBu, readable for colour-blind readers). Both metrics use the same
 * classes and colours. A rate with a zero denominator (nothing installed for 上云率, nothing planned
 * for 安装率) is NO_DATA, 无数据 (grey): neither 0% nor 100%. The class is computed from the integer
 * counts when the feature has them (exact: 0.95 is never 94.999…%), else from the fraction.
 */
export const RATE_CLASSES = config.rateClasses;
export const NO_DATA = config.noData;
/* The target rate (0.95): the warm/cool split of the classes. */
export const TARGET = config.target;
/* Metric key → {key, label, formula, numerator, denominator, noData (what a zero denominator means)}. */
export const METRICS = config.metrics;
/* [{level, key, name, codeLength}], county (0) first. */
export const LEVELS = config.levels;
/* Finding kind → {label, severity, colour}; severity → Chinese label. */
export const KINDS = config.kinds;
export const SEVERITIES = config.severities;
/* {boundary: ['.zip', …], cameras: ['.csv', …]}: the extensions the server reads. */
export const UPLOAD_EXTENSIONS = config.uploadExtensions;

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/* The class of numerator/denominator (exact integer test, like the Python RateClass.contains). */
export function classOfCounts(numerator, denominator) {
  if (!denominator) {
    return NO_DATA;
  }
  const scaled = numerator * 100;
  for (let i = 0; i < RATE_CLASSES.length; i++) {
    const c = RATE_CLASSES[i];
    if ((c.lower === null || scaled >= c.lower * denominator) && (c.upper === null || scaled < c.upper * denominator)) {
      return c;
    }
  }
  return NO_DATA;
}

/* The class of a fraction 0..1 (null → 无数据); rounded to 1e-9 so 0.95 stays 95%. */
export function classOfRate(rate) {
  if (!isNum(rate)) {
    return NO_DATA;
  }
  const pct = Math.round(rate * 1e11) / 1e9;
  for (let i = 0; i < RATE_CLASSES.length; i++) {
    const c = RATE_CLASSES[i];
    if ((c.lower === null || pct >= c.lower) && (c.upper === null || pct < c.upper)) {
      return c;
    }
  }
  return NO_DATA;
}

/* The class of an area (tile feature properties or API properties) for a metric. */
export function rateClass(props, metric) {
  const m = METRICS[metric];
  const n = props[m.numerator],
    d = props[m.denominator];
  if (isNum(n) && isNum(d)) {
    return classOfCounts(n, d);
  }
  return classOfRate(props[metric]);
}

/* ---------------------------------------------------------------- formatting */

export function pct(rate, digits) {
  if (!isNum(rate)) {
    return '—';
  }
  return `${(rate * 100).toFixed(digits === undefined ? 2 : digits)}%`;
}
export function num(n) {
  if (!isNum(n)) {
    return '—';
  }
  return n.toLocaleString('zh-CN');
}
export function levelName(level) {
  for (let i = 0; i < LEVELS.length; i++) {
    if (LEVELS[i].level === level) {
      return LEVELS[i].name;
    }
  }
  return `第 ${level} 级`;
}
export function levelKey(level) {
  for (let i = 0; i < LEVELS.length; i++) {
    if (LEVELS[i].level === level) {
      return LEVELS[i].key;
    }
  }
  return null;
}
export function levelOfKey(key) {
  for (let i = 0; i < LEVELS.length; i++) {
    if (LEVELS[i].key === key) {
      return LEVELS[i].level;
    }
  }
  return null;
}

/* ---------------------------------------------------------------- DOM */

/*
 * el('div', {className: 'x', onclick: fn, 'aria-label': '…'}, child, …): children are nodes or
 * strings (text nodes: data is never parsed as HTML); null/false children are skipped.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach((k) => {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) {
        return;
      }
      if (k === 'className') {
        node.className = v;
      } else if (k === 'text') {
        node.textContent = String(v);
      } else if (k === 'style' && typeof v === 'object') {
        Object.keys(v).forEach((s) => {
          node.style[s] = v[s];
        });
      } else if (k.slice(0, 2) === 'on' && typeof v === 'function') {
        node.addEventListener(k.slice(2), v);
      } else if (k === 'dataset') {
        Object.keys(v).forEach((d) => {
          node.dataset[d] = v[d];
        });
      } else if (v === true) {
        node.setAttribute(k, '');
      } else {
        node.setAttribute(k, String(v));
      }
    });
  }
  append(node, children);
  return node;
}
function append(node, child) {
  if (child === null || child === undefined || child === false) {
    return;
  }
  if (Array.isArray(child)) {
    child.forEach((c) => {
      append(node, c);
    });
    return;
  }
  node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
}
function clear(node) {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
  return node;
}
export function fill(node, ...children) {
  clear(node);
  append(node, children);
  return node;
}
export function debounce(fn, ms) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fn.apply(this, args);
    }, ms);
  };
}

/* ---------------------------------------------------------------- API */

/* The token from the page URL (?token=…), passed on to every API and tile request. */
export const pageToken = new URLSearchParams(location.search).get('token') || null;

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export function url(path, params) {
  const href = base + path.replace(/^\//, '');
  const query = [];
  Object.keys(params || {}).forEach((k) => {
    const v = params[k];
    if (v !== null && v !== undefined && v !== '') {
      query.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    }
  });
  return query.length ? href + (href.indexOf('?') >= 0 ? '&' : '?') + query.join('&') : href;
}

/*
 * api('api/v1/areas/411628', {params, method, json, form, token, signal}) → parsed JSON.
 * Refusals raise ApiError(status, code, Chinese message, detail); a network failure raises
 * ApiError(0, 'network', …).
 */
export function api(path, opts) {
  opts = opts || {};
  const headers = {Accept: 'application/json'};
  const token = opts.token !== undefined ? opts.token : pageToken;
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  }
  return fetch(url(path, opts.params), {
    method: opts.method || (body ? 'POST' : 'GET'),
    headers: headers,
    body: body,
    signal: opts.signal,
    credentials: 'same-origin',
    cache: opts.cache || 'default'
  }).then(
    (response) => {
      const type = response.headers.get('content-type') || '';
      const parsed = type.indexOf('json') >= 0 ? response.json() : response.text().then((t) => ({message: t}));
      return parsed.then(
        (data) => {
          if (!response.ok) {
            throw new ApiError(
              response.status,
              (data && data.code) || `http_${response.status}`,
              (data && data.message) || `服务器返回错误 ${response.status}`,
              data && data.detail
            );
          }
          return data;
        },
        () => {
          if (!response.ok) {
            throw new ApiError(response.status, `http_${response.status}`, `服务器返回错误 ${response.status}`);
          }
          return null;
        }
      );
    },
    (err) => {
      if (err && err.name === 'AbortError') {
        throw err;
      }
      throw new ApiError(0, 'network', '无法连接服务器：请检查网络或稍后重试。');
    }
  );
}

/* The data revision (/healthz): changes with every publish, import and status report. */
export function fetchRevision() {
  return fetch(url('healthz'), {cache: 'no-store'})
    .then((r) => r.json())
    .then((h) => (h && h.revision !== undefined ? h.revision : null))
    .catch(() => null);
}

/*
 * watchRevision(callback, opts): callback(revision) whenever the data revision moves, from the
 * server's event stream (/events/revision: every committed write announces its revision), at
 * most once per opts.minInterval ms (default 1000: a flood of writes reloads tiles once a second,
 * not at every write). opts.urlToken: send the page's token in the stream's URL (EventSource
 * cannot send headers). The browser reconnects a dropped stream by itself; pages keep their own
 * slower polling of /healthz as well. Returns {close: function}.
 */
export function watchRevision(callback, opts) {
  opts = opts || {};
  const minInterval = opts.minInterval === undefined ? 1000 : opts.minInterval;
  let last = 0,
    timer = null,
    newest = null,
    closed = false;
  if (!window.EventSource) {
    return {close: () => {}};
  }
  const source = new EventSource(url('events/revision', {token: opts.urlToken ? pageToken : null}));
  source.addEventListener('revision', (e) => {
    let rev;
    try {
      rev = JSON.parse(e.data).revision;
    } catch (_err) {
      return;
    }
    newest = rev;
    if (timer) {
      return;
    }
    timer = setTimeout(
      () => {
        timer = null;
        last = Date.now();
        if (!closed) {
          callback(newest);
        }
      },
      Math.max(0, last + minInterval - Date.now())
    );
  });
  return {
    close: () => {
      closed = true;
      source.close();
      if (timer) {
        clearTimeout(timer);
      }
    }
  };
}

/* A tile layer's TileJSON (min/max zoom, bounds), with defaults when it cannot be read. */
const tileJsonCache = {};
export function tileInfo(layer, token) {
  if (!tileJsonCache[layer]) {
    // The token goes in a header: editor tokens are refused in URLs (they would reach logs).
    const bearer = token || pageToken;
    tileJsonCache[layer] = fetch(url(`tiles/${layer}.json`), {
      headers: bearer ? {Authorization: `Bearer ${bearer}`} : {}
    })
      .then((r) => {
        if (!r.ok) {
          const e = new Error(`tilejson ${r.status}`);
          e.status = r.status;
          throw e;
        }
        return r.json();
      })
      .catch((err) => {
        delete tileJsonCache[layer];
        return {minzoom: 0, maxzoom: 16, bounds: null, error: err.status || 'network'};
      });
  }
  return tileJsonCache[layer];
}

/* ---------------------------------------------------------------- tiles */

function tileUrl(layer, opts) {
  opts = opts || {};
  if (opts.package) {
    return `package:${layer}/{z}/{x}/{y}`; // never fetched: the tiles come from the package
  }
  const token = opts.token !== undefined ? opts.token : pageToken;
  return url(`tiles/${layer}/{z}/{x}/{y}.mvt`, {v: opts.revision, token: opts.urlToken ? token : null});
}

/*
 * Leaflet.VectorGrid.Protobuf whose failed tile requests give an empty tile (not a stuck one).
 * (_getVectorTilePromise is VectorGrid's own fetch-and-decode step: overriding it is the only way
 * to see a tile's fetch fail.)
 */
const SafeProtobuf = L.VectorGrid.Protobuf.extend({
  _getVectorTilePromise: function (coords) {
    return this._tilePromise(coords).catch(() => {
      this.fire('tilefetcherror', {coords: coords});
      return {layers: {}};
    });
  },
  /*
   * From an offline package (opts.package, see package.js): VectorGrid's own fetch-and-decode step
   * runs with `fetch` answering this tile's bytes from the package. VectorGrid calls fetch at once
   * (synchronously) in _getVectorTilePromise, so the real fetch is back before anything else runs.
   */
  _tilePromise: function (coords) {
    const own = L.VectorGrid.Protobuf.prototype._getVectorTilePromise;
    const pkg = this.gmOpts && this.gmOpts.package;
    if (!pkg) {
      return own.call(this, coords);
    }
    const bytes = pkg.tile(this.gmLayer, coords.z, coords.x, coords.y);
    const realFetch = window.fetch;
    window.fetch = () => bytes.then((b) => new Response(b));
    try {
      return own.call(this, coords);
    } finally {
      window.fetch = realFetch;
    }
  }
});

/*
 * A vector-tile layer of areas, coloured by style(props, zoom) (see areaStyle).
 * opts: layer ('grid'…), style, pane, revision, minNativeZoom/maxNativeZoom, token (default: the
 * page's ?token=), urlToken (send it in the tile URL instead of the Authorization header),
 * featureId (default: the feature's code), package (an offline package from package.js: the
 * tiles come from it, not from /tiles).
 *
 * The grid keeps every feature it has drawn, each once: grid.gmFeatures, a Map id → properties
 * (read it with featuresOf). VectorGrid asks the getFeatureId option for the id of each feature
 * of each tile as it draws it; that is where they are recorded. A grid holds one data revision
 * (refreshGrid makes a new grid for a new one), so the records never mix revisions.
 */
export function areaGrid(opts) {
  const styles = {};
  styles[opts.layer] = opts.style;
  const token = opts.token !== undefined ? opts.token : pageToken;
  const fetchOptions = {credentials: 'same-origin'};
  if (token && !opts.urlToken) {
    fetchOptions.headers = {Authorization: `Bearer ${token}`};
  }
  const featureId = opts.featureId || ((f) => f.properties.code);
  const features = new Map();
  const grid = new SafeProtobuf(tileUrl(opts.layer, opts), {
    rendererFactory: L.canvas.tile,
    vectorTileLayerStyles: styles,
    interactive: false,
    getFeatureId: (f) => {
      const id = featureId(f);
      features.set(id, f.properties);
      return id;
    },
    pane: opts.pane || 'overlayPane',
    maxNativeZoom: opts.maxNativeZoom,
    minNativeZoom: opts.minNativeZoom,
    // Never below two zooms under the layer's own minimum (16 tiles per screen tile): far out,
    // a layer with a minimum zoom would otherwise fetch its tiles for a whole province.
    minZoom:
      opts.minZoom !== undefined
        ? opts.minZoom
        : opts.minNativeZoom !== undefined
          ? Math.max(0, opts.minNativeZoom - 2)
          : undefined,
    maxZoom: 22,
    bounds: opts.bounds,
    keepBuffer: 2,
    updateWhenZooming: false,
    fetchOptions: fetchOptions
  });
  grid.gmLayer = opts.layer;
  grid.gmStyle = opts.style;
  grid.gmOpts = opts;
  grid.gmFeatures = features;
  return grid;
}

/* The properties of every feature a grid made by areaGrid has drawn, each once (in no set order). */
export function featuresOf(grid) {
  return grid ? Array.from(grid.gmFeatures.values()) : [];
}

/*
 * The same grid re-read at a new data revision, without a blank frame: the new layer is added
 * over the old one, which is removed once the new tiles are drawn. (Not GridLayer.redraw or
 * setUrl: at a fractional zoom Leaflet 1.9's redraw requests tiles at that fractional zoom.)
 */
export function refreshGrid(map, old, revision) {
  const next = areaGrid(L.extend({}, old.gmOpts, {revision: revision, style: old.gmStyle}));
  let done = false;
  function drop() {
    if (!done) {
      done = true;
      map.removeLayer(old);
    }
  }
  next.once('load', drop);
  setTimeout(drop, 15000);
  return next.addTo(map);
}

/*
 * Re-symbolise every feature with `style` (else grid.gmStyle), e.g. after a metric switch, without
 * refetching: VectorGrid's setFeatureStyle redraws each drawn feature, and the layer's style
 * applies to the tiles loaded later.
 */
export function restyle(grid, style) {
  if (style) {
    grid.gmStyle = style;
    grid.options.vectorTileLayerStyles[grid.gmLayer] = style;
  }
  grid.gmFeatures.forEach((_properties, id) => {
    grid.setFeatureStyle(id, grid.gmStyle);
  });
}

/*
 * What a grid has drawn where, at the zoom of the tiles it shows: the one place that reads
 * Leaflet.VectorGrid's private state, because VectorGrid 1.3.0 has no public API for it (hitTest
 * and gridAreas need the drawn geometry). With getFeatureId set (areaGrid always sets it), a grid
 * keeps _vectorTiles: "x:y:z" → the tile's renderer, whose _features maps a feature id to
 * {layerName, feature}; the feature (a VectorGrid symbolizer) holds what was drawn, in tile pixels:
 * _parts (rings of points) for an area or a line, _point and _radius for a point. Leaflet's
 * GridLayer keeps the zoom of its tiles in _tileZoom. Revisit on a VectorGrid upgrade.
 * → null when the grid shows no tiles, else {zoom, tiles: [[x, y]…] (the loaded tiles at that
 * zoom), features(x, y) → [{id, layerName, properties, parts, point, radius}] or null}.
 */
function drawnTiles(grid) {
  if (!grid || !grid._vectorTiles || grid._tileZoom === undefined) {
    return null;
  }
  const z = grid._tileZoom,
    renderers = grid._vectorTiles;
  return {
    zoom: z,
    tiles: Object.keys(renderers)
      .map((key) => key.split(':').map(Number))
      .filter((xyz) => xyz[2] === z),
    features: (x, y) => {
      const renderer = renderers[`${x}:${y}:${z}`];
      if (!renderer || !renderer._features) {
        return null;
      }
      return Object.keys(renderer._features).map((id) => {
        const drawn = renderer._features[id],
          f = drawn.feature;
        return {
          id: id,
          layerName: drawn.layerName,
          properties: f.properties,
          parts: f._parts,
          point: f._point,
          radius: f._radius || 0
        };
      });
    }
  };
}

/* Point in polygon (even-odd over every ring: holes and multi-polygons alike). */
function inRings(parts, x, y) {
  let inside = false;
  for (let i = 0; i < parts.length; i++) {
    const ring = parts[i];
    for (let j = 0, k = ring.length - 1; j < ring.length; k = j++) {
      const a = ring[j],
        b = ring[k];
      if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) {
        inside = !inside;
      }
    }
  }
  return inside;
}

/* The pixel box [minX, minY, maxX, maxY] of drawn rings (kept per rings array). */
const ringBounds = new WeakMap();
function boundsOf(parts) {
  let b = ringBounds.get(parts);
  if (b) {
    return b;
  }
  b = [Infinity, Infinity, -Infinity, -Infinity];
  parts.forEach((ring) => {
    ring.forEach((pt) => {
      if (pt.x < b[0]) {
        b[0] = pt.x;
      }
      if (pt.y < b[1]) {
        b[1] = pt.y;
      }
      if (pt.x > b[2]) {
        b[2] = pt.x;
      }
      if (pt.y > b[3]) {
        b[3] = pt.y;
      }
    });
  });
  ringBounds.set(parts, b);
  return b;
}

/*
 * What a vector grid has at latlng: {properties, layerName} of the area containing it, or of
 * the nearest point feature within `tolerance` pixels; null when nothing is there.
 */
export function hitTest(grid, map, latlng, tolerance) {
  const drawn = grid && map.hasLayer(grid) ? drawnTiles(grid) : null;
  if (!drawn) {
    return null;
  }
  const z = drawn.zoom,
    size = grid.getTileSize();
  const p = map.project(latlng, z);
  const scale = map.getZoomScale(map.getZoom(), z); // screen px per tile px
  const tol = (tolerance || 0) / scale;
  let best = null,
    bestDist = Infinity;
  const tx0 = Math.floor((p.x - tol) / size.x),
    tx1 = Math.floor((p.x + tol) / size.x);
  const ty0 = Math.floor((p.y - tol) / size.y),
    ty1 = Math.floor((p.y + tol) / size.y);
  for (let tx = tx0; tx <= tx1; tx++) {
    for (let ty = ty0; ty <= ty1; ty++) {
      const features = drawn.features(tx, ty);
      if (!features) {
        continue;
      }
      const x = p.x - tx * size.x,
        y = p.y - ty * size.y;
      for (let i = 0; i < features.length; i++) {
        const f = features[i];
        if (f.point) {
          // point symbolizer
          const dx = f.point.x - x,
            dy = f.point.y - y,
            d = Math.sqrt(dx * dx + dy * dy);
          if (d <= tol + f.radius / scale && d < bestDist) {
            best = {properties: f.properties, layerName: f.layerName};
            bestDist = d;
          }
        } else if (f.parts && !tolerance) {
          const bb = boundsOf(f.parts);
          if (x >= bb[0] && x <= bb[2] && y >= bb[1] && y <= bb[3] && inRings(f.parts, x, y)) {
            return {properties: f.properties, layerName: f.layerName};
          }
        }
      }
    }
  }
  return best;
}

/*
 * The LatLngBounds of what a vector grid has drawn of feature `id` (its parts on every loaded tile
 * at the current tile zoom), or null when none of it is drawn. For an offline package, where no
 * API gives an area's box.
 */
export function drawnBounds(grid, map, id) {
  const drawn = drawnTiles(grid);
  if (!drawn) {
    return null;
  }
  const size = grid.getTileSize();
  let bounds = null;
  drawn.tiles.forEach((xy) => {
    (drawn.features(xy[0], xy[1]) || []).forEach((f) => {
      if (String(f.id) !== String(id) || !f.parts) {
        return;
      }
      const bb = boundsOf(f.parts);
      const sw = map.unproject(L.point(xy[0] * size.x + bb[0], xy[1] * size.y + bb[3]), drawn.zoom);
      const ne = map.unproject(L.point(xy[0] * size.x + bb[2], xy[1] * size.y + bb[1]), drawn.zoom);
      bounds = bounds ? bounds.extend(sw).extend(ne) : L.latLngBounds(sw, ne);
    });
  });
  return bounds;
}

/*
 * The areas a vector grid has loaded at its current tile zoom, each once (tiles repeat the
 * areas that cross their edges): [properties…]. With `bounds` (a LatLngBounds), only areas
 * whose drawn part's centre lies inside (the areas on screen).
 */
export function gridAreas(grid, map, bounds) {
  const out = [],
    seen = {};
  const drawn = drawnTiles(grid);
  if (!drawn) {
    return out;
  }
  const z = drawn.zoom,
    size = grid.getTileSize();
  drawn.tiles.forEach((xy) => {
    (drawn.features(xy[0], xy[1]) || []).forEach((f) => {
      if (seen[f.id]) {
        return;
      }
      if (bounds) {
        if (!f.parts) {
          return;
        }
        const bb = boundsOf(f.parts);
        const centre = L.point(xy[0] * size.x + (bb[0] + bb[2]) / 2, xy[1] * size.y + (bb[1] + bb[3]) / 2);
        if (!bounds.contains(map.unproject(centre, z))) {
          return;
        }
      }
      seen[f.id] = true;
      out.push(f.properties);
    });
  });
  return out;
}

/* How many areas fall in each legend class, best first then 无数据: [{cls, count}]. */
function classCounts(areas, metric) {
  const counts = {};
  areas.forEach((p) => {
    const k = rateClass(p, metric).key;
    counts[k] = (counts[k] || 0) + 1;
  });
  return RATE_CLASSES.slice()
    .reverse()
    .concat([NO_DATA])
    .map((c) => ({cls: c, count: counts[c.key] || 0}));
}

/*
 * The figures of a set of areas summed from their tile properties, as /api/v1/summary answers
 * them: areas, planned, installed, online, blind (nothing installed) and the two rates (null when
 * the denominator is 0).
 */
export function sumFigures(areas) {
  const s = {areas: 0, planned: 0, installed: 0, online: 0, blind: 0};
  areas.forEach((p) => {
    s.areas++;
    s.planned += p.planned || 0;
    s.installed += p.installed || 0;
    s.online += p.online || 0;
    if (!p.installed) {
      s.blind++;
    }
  });
  s.rollout_rate = s.planned ? s.installed / s.planned : null;
  s.online_rate = s.installed ? s.online / s.installed : null;
  return s;
}

/* A stacked bar and rows of class counts (the same colours as the map). */
export function distributionNodes(areas, metric, unit) {
  return classCountNodes(classCounts(areas, metric), areas.length, {unit: unit});
}

/*
 * The stacked bar and rows of `rows` ([{cls: {key, label, colour}, count}], of `total` areas);
 * opts.unit follows each count, opts.short drops a label's explanation in brackets from the row
 * (the full label stays in its title).
 */
export function classCountNodes(rows, total, opts) {
  opts = opts || {};
  const whole = total || 1;
  return [
    el(
      'div',
      {
        className: 'gm-dist-bar',
        role: 'img',
        'aria-label': rows.map((r) => `${r.cls.label} ${r.count} 个`).join('，')
      },
      rows
        .filter((r) => r.count)
        .map((r) =>
          el('span', {
            style: {width: `${(100 * r.count) / whole}%`, background: r.cls.colour},
            title: `${r.cls.label}：${r.count} 个`
          })
        )
    ),
    el(
      'ul',
      {className: 'gm-dist-rows'},
      rows.map((r) =>
        el(
          'li',
          {dataset: {cls: r.cls.key}, title: r.cls.label},
          el('span', {className: 'gm-swatch', style: {background: r.cls.colour}, 'aria-hidden': 'true'}),
          el('span', {className: 'gm-dist-label'}, opts.short ? r.cls.label.replace(/（.*$/, '') : r.cls.label),
          el('b', null, num(r.count)),
          opts.unit || ''
        )
      )
    )
  ];
}

/* Edge width per level (county outline thick, micro-grids hairline), grown when zoomed in. */
const EDGE = {0: 1.6, 1: 1.2, 2: 0.8, 3: 0.6, 4: 0.4};
function edgeWeight(level, zoom) {
  const w = EDGE[level] === undefined ? 0.6 : EDGE[level];
  return zoom >= 15 ? w * 1.8 : zoom >= 13 ? w * 1.3 : w;
}

/*
 * The fill style of an area for a metric; theme 'dark' draws darker edges for big screens;
 * seeThrough (a basemap is shown): lighter fills, so the basemap shows through (same colours).
 */
export function areaStyle(metric, theme, seeThrough) {
  const edge = theme === 'dark' ? '#0a1626' : '#ffffff';
  return (props, zoom) => {
    const c = rateClass(props, metric);
    return {
      fill: true,
      fillColor: c.colour,
      fillOpacity: seeThrough ? 0.5 : theme === 'dark' ? 0.85 : 0.78,
      stroke: true,
      color: edge,
      opacity: 0.9,
      weight: edgeWeight(props.level, zoom)
    };
  };
}

/* Outlines only (the level above the coloured one, drawn on top for orientation). */
export function outlineStyle(theme, level) {
  const colour = theme === 'dark' ? '#e6f0ff' : '#1d2733';
  return (_props, zoom) => ({
    fill: false,
    stroke: true,
    color: colour,
    opacity: theme === 'dark' ? 0.7 : 0.7,
    weight: Math.min(2.4, Math.max(1.1, edgeWeight(level, zoom) * 1.8))
  });
}

/* Cameras: 在线 green, 离线 magenta, 规划中 hollow grey; removed cameras are not drawn. */
export const CAMERA_STATES = [
  {key: 'online', label: '在线', fill: '#1a9850', stroke: '#ffffff'},
  {key: 'offline', label: '离线', fill: '#c51b7d', stroke: '#ffffff'},
  {key: 'planned', label: '规划中', fill: '#ffffff', stroke: '#4d4d4d'}
];
export function cameraState(props) {
  if (props.status === 'installed') {
    return props.online === true || props.online === 1 || props.online === 'true' ? 'online' : 'offline';
  }
  if (props.status === 'planned') {
    return 'planned';
  }
  return null;
}
export function cameraStyle() {
  const by = {};
  CAMERA_STATES.forEach((s) => {
    by[s.key] = s;
  });
  return (props, zoom) => {
    const s = by[cameraState(props)];
    if (!s) {
      return [];
    }
    const r = zoom >= 16 ? 5.5 : zoom >= 14 ? 4 : 3;
    return {
      radius: r,
      fill: true,
      fillColor: s.fill,
      fillOpacity: 1,
      stroke: true,
      color: s.stroke,
      weight: s.key === 'planned' ? 1.5 : 1,
      opacity: 1
    };
  };
}

/* ---------------------------------------------------------------- legend (the basemap: basemap.js) */

/* The legend of a metric: classes best first, then 无数据 (with what it means). */
export function legendNodes(metric, opts) {
  opts = opts || {};
  const m = METRICS[metric];
  const rows = RATE_CLASSES.slice()
    .reverse()
    .concat([NO_DATA])
    .map((c) => {
      const label = c === NO_DATA ? `${c.label}（${m.noData}）` : c.label;
      return el(
        'li',
        {className: 'gm-legend-row', dataset: {cls: c.key}},
        el('span', {className: 'gm-swatch', style: {background: c.colour}, 'aria-hidden': 'true'}),
        label
      );
    });
  const nodes = [
    el(
      'div',
      {className: 'gm-legend-title'},
      m.label,
      el('span', {className: 'gm-legend-formula'}, `（${m.formula}）`)
    ),
    el('ul', {className: 'gm-legend-list', 'aria-label': `${m.label}图例`}, rows)
  ];
  if (opts.cameras) {
    nodes.push(el('div', {className: 'gm-legend-title gm-legend-sub'}, '摄像头'));
    nodes.push(
      el(
        'ul',
        {className: 'gm-legend-list gm-legend-cams', 'aria-label': '摄像头图例'},
        CAMERA_STATES.map((s) =>
          el(
            'li',
            {className: 'gm-legend-row'},
            el('span', {
              className: 'gm-dot',
              style: {background: s.fill, borderColor: s.stroke},
              'aria-hidden': 'true'
            }),
            s.label
          )
        )
      )
    );
  }
  return nodes;
}
