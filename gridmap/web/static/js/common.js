/*
 * gridmap pages: what /map, /embed and /upload share.
 *
 * - GM.config: the server's inline JSON config (#gm-config): base URL, levels, issue kinds, basemap.
 * - GM.RATE_CLASSES / GM.NO_DATA / GM.rateClass: THE legend classes of 上云率 and 安装率, for every
 *   page (the same breaks and colours as the exported maps, gridmap.maps.coverage_map.RATE_CLASSES;
 *   a test checks they agree).
 * - GM.api: JSON requests to /api/v1 (token in the Authorization header; errors as GM.ApiError with
 *   the server's stable code and Chinese message).
 * - GM.areaGrid / GM.cameraGrid: Leaflet.VectorGrid layers on /tiles/{layer}/{z}/{x}/{y}.mvt, with
 *   GM.restyle (switch metric without refetching) and GM.hitTest (what is under a point).
 * - GM.el: builds DOM; every data string goes in as a text node (never innerHTML).
 *
 * Plain ES2017 (no modules, no build step): runs on the Chromium-based browsers of county offices.
 */
(function (global) {
  'use strict';

  var GM = global.GM = {};
  var config = GM.config = JSON.parse(document.getElementById('gm-config').textContent);
  GM.base = config.base || '/';

  /* ---------------------------------------------------------------- legend classes */

  /*
   * Rate classes, worst first; lower bound included, upper bound excluded, in whole percent.
   * Warm below the 95% target, cool at or above it (ColorBrewer RdYlBu, readable for colour-blind
   * readers). Both metrics use the same classes and colours. A rate with a zero denominator
   * (nothing installed for 上云率, nothing planned for 安装率) is 无数据 (grey): neither 0% nor 100%.
   * The class is computed from the integer counts when the feature has them (exact: 0.95 is never
   * 94.999…%), else from the fraction.
   */
  GM.RATE_CLASSES = [
    {key: 'lt80', label: '< 80%', lower: null, upper: 80, colour: '#d7191c'},
    {key: '80_90', label: '80% – 90%', lower: 80, upper: 90, colour: '#fdae61'},
    {key: '90_95', label: '90% – 95%', lower: 90, upper: 95, colour: '#fee090'},
    {key: '95_98', label: '95% – 98%', lower: 95, upper: 98, colour: '#abd9e9'},
    {key: 'ge98', label: '≥ 98%', lower: 98, upper: null, colour: '#2c7bb6'}
  ];
  GM.NO_DATA = {key: 'none', label: '无数据', lower: null, upper: null, colour: '#bdbdbd'};
  GM.TARGET = 0.95;

  GM.METRICS = {
    online_rate: {key: 'online_rate', label: '上云率', formula: '在线 / 已安装',
                  numerator: 'online', denominator: 'installed', noData: '已安装为 0'},
    rollout_rate: {key: 'rollout_rate', label: '安装率', formula: '已安装 / 计划',
                   numerator: 'installed', denominator: 'planned', noData: '计划为 0'}
  };

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  /* The class of numerator/denominator (exact integer test, like the Python RateClass.contains). */
  GM.classOfCounts = function (numerator, denominator) {
    if (!denominator) { return GM.NO_DATA; }
    var scaled = numerator * 100;
    for (var i = 0; i < GM.RATE_CLASSES.length; i++) {
      var c = GM.RATE_CLASSES[i];
      if ((c.lower === null || scaled >= c.lower * denominator) &&
          (c.upper === null || scaled < c.upper * denominator)) { return c; }
    }
    return GM.NO_DATA;
  };

  /* The class of a fraction 0..1 (null → 无数据); rounded to 1e-9 so 0.95 stays 95%. */
  GM.classOfRate = function (rate) {
    if (!isNum(rate)) { return GM.NO_DATA; }
    var pct = Math.round(rate * 1e11) / 1e9;
    for (var i = 0; i < GM.RATE_CLASSES.length; i++) {
      var c = GM.RATE_CLASSES[i];
      if ((c.lower === null || pct >= c.lower) && (c.upper === null || pct < c.upper)) { return c; }
    }
    return GM.NO_DATA;
  };

  /* The class of an area (tile feature properties or API properties) for a metric. */
  GM.rateClass = function (props, metric) {
    var m = GM.METRICS[metric];
    var n = props[m.numerator], d = props[m.denominator];
    if (isNum(n) && isNum(d)) { return GM.classOfCounts(n, d); }
    return GM.classOfRate(props[metric]);
  };

  /* ---------------------------------------------------------------- formatting */

  GM.pct = function (rate, digits) {
    if (!isNum(rate)) { return '—'; }
    return (rate * 100).toFixed(digits === undefined ? 2 : digits) + '%';
  };
  GM.num = function (n) {
    if (!isNum(n)) { return '—'; }
    return n.toLocaleString('zh-CN');
  };
  GM.levelName = function (level) {
    for (var i = 0; i < config.levels.length; i++) {
      if (config.levels[i].level === level) { return config.levels[i].name; }
    }
    return '第 ' + level + ' 级';
  };
  GM.levelKey = function (level) {
    for (var i = 0; i < config.levels.length; i++) {
      if (config.levels[i].level === level) { return config.levels[i].key; }
    }
    return null;
  };
  GM.levelOfKey = function (key) {
    for (var i = 0; i < config.levels.length; i++) {
      if (config.levels[i].key === key) { return config.levels[i].level; }
    }
    return null;
  };

  /* ---------------------------------------------------------------- DOM */

  /*
   * GM.el('div', {className: 'x', onclick: fn, 'aria-label': '…'}, child, …): children are nodes or
   * strings (text nodes: data is never parsed as HTML); null/false children are skipped.
   */
  GM.el = function (tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) { return; }
        if (k === 'className') { node.className = v; }
        else if (k === 'text') { node.textContent = String(v); }
        else if (k === 'style' && typeof v === 'object') { Object.keys(v).forEach(function (s) { node.style[s] = v[s]; }); }
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') { node.addEventListener(k.slice(2), v); }
        else if (k === 'dataset') { Object.keys(v).forEach(function (d) { node.dataset[d] = v[d]; }); }
        else if (v === true) { node.setAttribute(k, ''); }
        else { node.setAttribute(k, String(v)); }
      });
    }
    for (var i = 2; i < arguments.length; i++) { append(node, arguments[i]); }
    return node;
  };
  function append(node, child) {
    if (child === null || child === undefined || child === false) { return; }
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  GM.clear = function (node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; };
  GM.fill = function (node) {
    GM.clear(node);
    for (var i = 1; i < arguments.length; i++) { append(node, arguments[i]); }
    return node;
  };
  GM.debounce = function (fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  };

  /* ---------------------------------------------------------------- API */

  /* The token from the page URL (?token=…), passed on to every API and tile request. */
  GM.token = new URLSearchParams(global.location.search).get('token') || null;

  function ApiError(status, code, message, detail) {
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.message = message;
    this.detail = detail;
  }
  ApiError.prototype = Object.create(Error.prototype);
  GM.ApiError = ApiError;

  GM.url = function (path, params) {
    var url = GM.base + path.replace(/^\//, '');
    var query = [];
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== '') { query.push(encodeURIComponent(k) + '=' + encodeURIComponent(v)); }
    });
    return query.length ? url + (url.indexOf('?') >= 0 ? '&' : '?') + query.join('&') : url;
  };

  /*
   * GM.api('api/v1/areas/411628', {params, method, json, form, token, signal}) → parsed JSON.
   * Refusals raise GM.ApiError(status, code, Chinese message, detail); a network failure raises
   * GM.ApiError(0, 'network', …).
   */
  GM.api = function (path, opts) {
    opts = opts || {};
    var headers = {'Accept': 'application/json'};
    var token = opts.token !== undefined ? opts.token : GM.token;
    if (token) { headers['Authorization'] = 'Bearer ' + token; }
    var body;
    if (opts.json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.json); }
    else if (opts.form) { body = opts.form; }
    return fetch(GM.url(path, opts.params), {
      method: opts.method || (body ? 'POST' : 'GET'), headers: headers, body: body,
      signal: opts.signal, credentials: 'same-origin', cache: opts.cache || 'default'
    }).then(function (response) {
      var type = response.headers.get('content-type') || '';
      var parsed = type.indexOf('json') >= 0 ? response.json() : response.text().then(function (t) { return {message: t}; });
      return parsed.then(function (data) {
        if (!response.ok) {
          throw new ApiError(response.status, (data && data.code) || 'http_' + response.status,
                             (data && data.message) || ('服务器返回错误 ' + response.status), data && data.detail);
        }
        return data;
      }, function () {
        if (!response.ok) { throw new ApiError(response.status, 'http_' + response.status, '服务器返回错误 ' + response.status); }
        return null;
      });
    }, function (err) {
      if (err && err.name === 'AbortError') { throw err; }
      throw new ApiError(0, 'network', '无法连接服务器：请检查网络或稍后重试。');
    });
  };

  /* The data revision (/healthz): changes with every publish, import and status report. */
  GM.revision = function () {
    return fetch(GM.url('healthz'), {cache: 'no-store'}).then(function (r) { return r.json(); })
      .then(function (h) { return h && h.revision !== undefined ? h.revision : null; })
      .catch(function () { return null; });
  };

  /*
   * GM.watchRevision(callback, opts): callback(revision) whenever the data revision moves, from the
   * server's event stream (/events/revision: every committed write announces its revision), at
   * most once per opts.minInterval ms (default 1000: a flood of writes reloads tiles once a second,
   * not at every write). opts.urlToken: send the page's token in the stream's URL (EventSource
   * cannot send headers). The browser reconnects a dropped stream by itself; pages keep their own
   * slower polling of /healthz as well. Returns {close: function}.
   */
  GM.watchRevision = function (callback, opts) {
    opts = opts || {};
    var minInterval = opts.minInterval === undefined ? 1000 : opts.minInterval;
    var last = 0, timer = null, newest = null, closed = false;
    if (!window.EventSource) { return {close: function () {}}; }
    var source = new EventSource(GM.url('events/revision', {token: opts.urlToken ? GM.token : null}));
    source.addEventListener('revision', function (e) {
      var rev;
      try { rev = JSON.parse(e.data).revision; } catch (err) { return; }
      newest = rev;
      if (timer) { return; }
      timer = setTimeout(function () {
        timer = null;
        last = Date.now();
        if (!closed) { callback(newest); }
      }, Math.max(0, last + minInterval - Date.now()));
    });
    return {close: function () { closed = true; source.close(); if (timer) { clearTimeout(timer); } }};
  };

  /* A tile layer's TileJSON (min/max zoom, bounds), with defaults when it cannot be read. */
  var tileJsonCache = {};
  GM.tileInfo = function (layer, token) {
    if (!tileJsonCache[layer]) {
      // The token goes in a header: editor tokens are refused in URLs (they would reach logs).
      var bearer = token || GM.token;
      tileJsonCache[layer] = fetch(GM.url('tiles/' + layer + '.json'),
                                   {headers: bearer ? {'Authorization': 'Bearer ' + bearer} : {}})
        .then(function (r) {
          if (!r.ok) { var e = new Error('tilejson ' + r.status); e.status = r.status; throw e; }
          return r.json();
        })
        .catch(function (err) {
          delete tileJsonCache[layer];
          return {minzoom: 0, maxzoom: 16, bounds: null, error: err.status || 'network'};
        });
    }
    return tileJsonCache[layer];
  };

  /* ---------------------------------------------------------------- tiles */

  GM.tileUrl = function (layer, opts) {
    opts = opts || {};
    var token = opts.token !== undefined ? opts.token : GM.token;
    return GM.url('tiles/' + layer + '/{z}/{x}/{y}.mvt', {v: opts.revision, token: opts.urlToken ? token : null});
  };

  /* Leaflet.VectorGrid.Protobuf whose failed tile requests give an empty tile (not a stuck one). */
  var SafeProtobuf = L.VectorGrid.Protobuf.extend({
    _getVectorTilePromise: function (coords) {
      var self = this;
      return L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords).catch(function () {
        self.fire('tilefetcherror', {coords: coords});
        return {layers: {}};
      });
    }
  });

  /*
   * A vector-tile layer of areas, coloured by style(props, zoom) (see GM.areaStyle).
   * opts: layer ('grid'…), style, pane, revision, minNativeZoom/maxNativeZoom, token (default: the
   * page's ?token=), urlToken (send it in the tile URL instead of the Authorization header).
   */
  GM.areaGrid = function (opts) {
    var styles = {};
    styles[opts.layer] = opts.style;
    var token = opts.token !== undefined ? opts.token : GM.token;
    var fetchOptions = {credentials: 'same-origin'};
    if (token && !opts.urlToken) { fetchOptions.headers = {'Authorization': 'Bearer ' + token}; }
    var grid = new SafeProtobuf(GM.tileUrl(opts.layer, opts), {
      rendererFactory: L.canvas.tile,
      vectorTileLayerStyles: styles,
      interactive: false,
      getFeatureId: opts.featureId || function (f) { return f.properties.code; },
      pane: opts.pane || 'overlayPane',
      maxNativeZoom: opts.maxNativeZoom,
      minNativeZoom: opts.minNativeZoom,
      // Never below two zooms under the layer's own minimum (16 tiles per screen tile): far out,
      // a layer with a minimum zoom would otherwise fetch its tiles for a whole province.
      minZoom: opts.minZoom !== undefined ? opts.minZoom
        : opts.minNativeZoom !== undefined ? Math.max(0, opts.minNativeZoom - 2) : undefined,
      maxZoom: 22,
      bounds: opts.bounds,
      keepBuffer: 2,
      updateWhenZooming: false,
      fetchOptions: fetchOptions
    });
    grid.gmLayer = opts.layer;
    grid.gmStyle = opts.style;
    grid.gmOpts = opts;
    return grid;
  };

  /*
   * The same grid re-read at a new data revision, without a blank frame: the new layer is added
   * over the old one, which is removed once the new tiles are drawn. (Not GridLayer.redraw or
   * setUrl: at a fractional zoom Leaflet 1.9's redraw requests tiles at that fractional zoom.)
   */
  GM.refreshGrid = function (map, old, revision) {
    var next = GM.areaGrid(L.extend({}, old.gmOpts, {revision: revision, style: old.gmStyle}));
    var done = false;
    function drop() { if (!done) { done = true; map.removeLayer(old); } }
    next.once('load', drop);
    setTimeout(drop, 15000);
    return next.addTo(map);
  };

  /* Re-symbolise every loaded feature with grid.gmStyle (e.g. after a metric switch). */
  GM.restyle = function (grid, style) {
    if (style) {
      grid.gmStyle = style;
      grid.options.vectorTileLayerStyles[grid.gmLayer] = style;
    }
    var tiles = grid._vectorTiles || {};
    Object.keys(tiles).forEach(function (key) {
      var renderer = tiles[key], features = renderer._features || {};
      Object.keys(features).forEach(function (id) {
        grid._updateStyles(features[id].feature, renderer, grid.gmStyle);
      });
    });
  };

  /* Point in polygon (even-odd over every ring: holes and multi-polygons alike). */
  function inRings(parts, x, y) {
    var inside = false;
    for (var i = 0; i < parts.length; i++) {
      var ring = parts[i];
      for (var j = 0, k = ring.length - 1; j < ring.length; k = j++) {
        var a = ring[j], b = ring[k];
        if (((a.y > y) !== (b.y > y)) && (x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x)) { inside = !inside; }
      }
    }
    return inside;
  }

  /*
   * What a vector grid has at latlng: {properties, layerName} of the area containing it, or of
   * the nearest point feature within `tolerance` pixels; null when nothing is there.
   */
  GM.hitTest = function (grid, map, latlng, tolerance) {
    if (!grid || !grid._map || grid._tileZoom === undefined) { return null; }
    var z = grid._tileZoom, size = grid.getTileSize();
    var p = map.project(latlng, z);
    var scale = map.getZoomScale(map.getZoom(), z);  // screen px per tile px
    var tol = (tolerance || 0) / scale;
    var best = null, bestDist = Infinity;
    var tx0 = Math.floor((p.x - tol) / size.x), tx1 = Math.floor((p.x + tol) / size.x);
    var ty0 = Math.floor((p.y - tol) / size.y), ty1 = Math.floor((p.y + tol) / size.y);
    for (var tx = tx0; tx <= tx1; tx++) {
      for (var ty = ty0; ty <= ty1; ty++) {
        var renderer = grid._vectorTiles && grid._vectorTiles[tx + ':' + ty + ':' + z];
        if (!renderer || !renderer._features) { continue; }
        var x = p.x - tx * size.x, y = p.y - ty * size.y;
        var features = renderer._features;
        for (var id in features) {
          var f = features[id].feature;
          if (f._point) {  // point symbolizer
            var dx = f._point.x - x, dy = f._point.y - y, d = Math.sqrt(dx * dx + dy * dy);
            if (d <= tol + (f._radius || 0) / scale && d < bestDist) {
              best = {properties: f.properties, layerName: features[id].layerName}; bestDist = d;
            }
          } else if (f._parts && !tolerance) {
            var bb = f._gmBounds || (f._gmBounds = boundsOf(f._parts));
            if (x >= bb[0] && x <= bb[2] && y >= bb[1] && y <= bb[3] && inRings(f._parts, x, y)) {
              return {properties: f.properties, layerName: features[id].layerName};
            }
          }
        }
      }
    }
    return best;
  };
  function boundsOf(parts) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    parts.forEach(function (ring) {
      ring.forEach(function (pt) {
        if (pt.x < b[0]) { b[0] = pt.x; } if (pt.y < b[1]) { b[1] = pt.y; }
        if (pt.x > b[2]) { b[2] = pt.x; } if (pt.y > b[3]) { b[3] = pt.y; }
      });
    });
    return b;
  }

  /*
   * The areas a vector grid has loaded at its current tile zoom, each once (tiles repeat the
   * areas that cross their edges): [properties…]. With `bounds` (a LatLngBounds), only areas
   * whose drawn part's centre lies inside (the areas on screen).
   */
  GM.gridAreas = function (grid, map, bounds) {
    var out = [], seen = {};
    if (!grid || !grid._vectorTiles || grid._tileZoom === undefined) { return out; }
    var z = grid._tileZoom, size = grid.getTileSize();
    Object.keys(grid._vectorTiles).forEach(function (key) {
      var parts = key.split(':');
      if (Number(parts[2]) !== z) { return; }
      var features = grid._vectorTiles[key]._features || {};
      Object.keys(features).forEach(function (id) {
        if (seen[id]) { return; }
        var f = features[id].feature;
        if (bounds) {
          var bb = f._gmBounds || (f._gmBounds = f._parts ? boundsOf(f._parts) : null);
          if (!bb) { return; }
          var centre = L.point(Number(parts[0]) * size.x + (bb[0] + bb[2]) / 2, Number(parts[1]) * size.y + (bb[1] + bb[3]) / 2);
          if (!bounds.contains(map.unproject(centre, z))) { return; }
        }
        seen[id] = true;
        out.push(f.properties);
      });
    });
    return out;
  };

  /* How many areas fall in each legend class, best first then 无数据: [{cls, count}]. */
  GM.classCounts = function (areas, metric) {
    var counts = {};
    areas.forEach(function (p) { var k = GM.rateClass(p, metric).key; counts[k] = (counts[k] || 0) + 1; });
    return GM.RATE_CLASSES.slice().reverse().concat([GM.NO_DATA]).map(function (c) {
      return {cls: c, count: counts[c.key] || 0};
    });
  };

  /* A stacked bar and rows of class counts (the same colours as the map). */
  GM.distributionNodes = function (areas, metric, unit) {
    var rows = GM.classCounts(areas, metric), total = areas.length || 1;
    return [
      GM.el('div', {className: 'gm-dist-bar', role: 'img',
                    'aria-label': rows.map(function (r) { return r.cls.label + ' ' + r.count + ' 个'; }).join('，')},
        rows.filter(function (r) { return r.count; }).map(function (r) {
          return GM.el('span', {style: {width: (100 * r.count / total) + '%', background: r.cls.colour},
                                title: r.cls.label + '：' + r.count + ' 个'});
        })),
      GM.el('ul', {className: 'gm-dist-rows'}, rows.map(function (r) {
        return GM.el('li', {dataset: {cls: r.cls.key}},
          GM.el('span', {className: 'gm-swatch', style: {background: r.cls.colour}, 'aria-hidden': 'true'}),
          GM.el('span', {className: 'gm-dist-label'}, r.cls.label),
          GM.el('b', null, GM.num(r.count)), unit || '');
      }))
    ];
  };

  /* Edge width per level (county outline thick, micro-grids hairline), grown when zoomed in. */
  var EDGE = {0: 1.6, 1: 1.2, 2: 0.8, 3: 0.6, 4: 0.4};
  GM.edgeWeight = function (level, zoom) {
    var w = EDGE[level] === undefined ? 0.6 : EDGE[level];
    return zoom >= 15 ? w * 1.8 : zoom >= 13 ? w * 1.3 : w;
  };

  /* The fill style of an area for a metric; theme 'dark' draws darker edges for big screens. */
  GM.areaStyle = function (metric, theme) {
    var edge = theme === 'dark' ? '#0a1626' : '#ffffff';
    return function (props, zoom) {
      var c = GM.rateClass(props, metric);
      return {fill: true, fillColor: c.colour, fillOpacity: theme === 'dark' ? 0.85 : 0.78,
              stroke: true, color: edge, opacity: 0.9, weight: GM.edgeWeight(props.level, zoom)};
    };
  };

  /* Outlines only (the level above the coloured one, drawn on top for orientation). */
  GM.outlineStyle = function (theme, level) {
    var colour = theme === 'dark' ? '#e6f0ff' : '#1d2733';
    return function (props, zoom) {
      return {fill: false, stroke: true, color: colour, opacity: theme === 'dark' ? 0.7 : 0.7,
              weight: Math.min(2.4, Math.max(1.1, GM.edgeWeight(level, zoom) * 1.8))};
    };
  };

  /* Cameras: 在线 green, 离线 magenta, 规划中 hollow grey; removed cameras are not drawn. */
  GM.CAMERA_STATES = [
    {key: 'online', label: '在线', fill: '#1a9850', stroke: '#ffffff'},
    {key: 'offline', label: '离线', fill: '#c51b7d', stroke: '#ffffff'},
    {key: 'planned', label: '规划中', fill: '#ffffff', stroke: '#4d4d4d'}
  ];
  GM.cameraState = function (props) {
    if (props.status === 'installed') { return props.online === true || props.online === 1 || props.online === 'true' ? 'online' : 'offline'; }
    if (props.status === 'planned') { return 'planned'; }
    return null;
  };
  GM.cameraStyle = function () {
    var by = {};
    GM.CAMERA_STATES.forEach(function (s) { by[s.key] = s; });
    return function (props, zoom) {
      var s = by[GM.cameraState(props)];
      if (!s) { return []; }
      var r = zoom >= 16 ? 5.5 : zoom >= 14 ? 4 : 3;
      return {radius: r, fill: true, fillColor: s.fill, fillOpacity: 1, stroke: true, color: s.stroke,
              weight: s.key === 'planned' ? 1.5 : 1, opacity: 1};
    };
  };

  /* ---------------------------------------------------------------- basemap and legend */

  GM.addBasemap = function (map) {
    var b = config.basemap;
    if (!b || !b.url) { return null; }
    return L.tileLayer(b.url, {attribution: b.attribution, subdomains: b.subdomains, maxZoom: 22,
                               maxNativeZoom: 18, crossOrigin: false}).addTo(map);
  };

  /* The legend of a metric: classes best first, then 无数据 (with what it means). */
  GM.legendNodes = function (metric, opts) {
    opts = opts || {};
    var m = GM.METRICS[metric];
    var rows = GM.RATE_CLASSES.slice().reverse().concat([GM.NO_DATA]).map(function (c) {
      var label = c === GM.NO_DATA ? c.label + '（' + m.noData + '）' : c.label;
      return GM.el('li', {className: 'gm-legend-row', dataset: {cls: c.key}},
        GM.el('span', {className: 'gm-swatch', style: {background: c.colour}, 'aria-hidden': 'true'}), label);
    });
    var nodes = [GM.el('div', {className: 'gm-legend-title'}, m.label,
                       GM.el('span', {className: 'gm-legend-formula'}, '（' + m.formula + '）')),
                 GM.el('ul', {className: 'gm-legend-list', 'aria-label': m.label + '图例'}, rows)];
    if (opts.cameras) {
      nodes.push(GM.el('div', {className: 'gm-legend-title gm-legend-sub'}, '摄像头'));
      nodes.push(GM.el('ul', {className: 'gm-legend-list gm-legend-cams', 'aria-label': '摄像头图例'},
        GM.CAMERA_STATES.map(function (s) {
          return GM.el('li', {className: 'gm-legend-row'},
            GM.el('span', {className: 'gm-dot', style: {background: s.fill, borderColor: s.stroke}, 'aria-hidden': 'true'}),
            s.label);
        })));
    }
    return nodes;
  };

  /* Summary figures (from /api/v1/summary, or summed from tiles) as a list of {label, value, cls}. */
  GM.summaryFigures = function (s) {
    return {
      online: {label: '上云率', value: GM.pct(s.online_rate), cls: GM.classOfRate(s.online_rate)},
      rollout: {label: '安装率', value: GM.pct(s.rollout_rate), cls: GM.classOfRate(s.rollout_rate)}
    };
  };
})(window);
