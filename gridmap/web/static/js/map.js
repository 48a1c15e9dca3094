/*
 * /map (一张图): areas of one level coloured by 上云率 or 安装率 from the vector tiles, cameras on
 * demand, a side panel with the current view's figures (/api/v1/summary) and the clicked area's
 * details and children (/api/v1/areas/{code}), and a search box (/api/v1/search).
 *
 * The view is kept in the URL hash (#level=grid&metric=online_rate&area=…&cameras=1), so a view
 * can be bookmarked or sent. window.gm exposes the map and state for the page tests.
 */
import {
  addBasemap, api, areaGrid, areaStyle, CAMERA_STATES, cameraState, cameraStyle, classOfRate, debounce, distributionNodes, el, fetchRevision, fill, gridAreas, hitTest, legendNodes, levelKey, levelName, levelOfKey, LEVELS, METRICS, NO_DATA, num, outlineStyle, pageToken, pct, rateClass, refreshGrid, restyle, TARGET, tileInfo, watchRevision
} from './common.js';

var $ = function (id) { return document.getElementById(id); };
var CAMERA_MIN_ZOOM_DEFAULT = 12;

var state = {
  level: 3, metric: 'online_rate', cameras: false, selected: null, revision: null,
  tilesLoading: 0, pending: 0, viewSummary: null, area: null, tileInfo: {}
};
var layers = {area: null, outline: null, cameras: null, highlight: null, basemap: null};

readHash();

var map = L.map('gm-map', {zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 90, minZoom: 4, maxZoom: 19,
                           attributionControl: true, zoomControl: false, preferCanvas: true});
map.attributionControl.setPrefix('gridmap');
L.control.zoom({position: 'bottomright', zoomInTitle: '放大', zoomOutTitle: '缩小'}).addTo(map);
L.control.scale({position: 'bottomright', imperial: false}).addTo(map);
[['gm-areas', 400], ['gm-outline', 420], ['gm-highlight', 430], ['gm-cameras', 440]].forEach(function (p) {
  map.createPane(p[0]).style.zIndex = p[1];
  map.getPane(p[0]).style.pointerEvents = 'none';
});
map.setView([35, 105], 5);
layers.basemap = addBasemap(map);

/* ------------------------------------------------------------ controls */

function segButton(group, label, value, current, onPick, title) {
  var b = el('button', {type: 'button', role: 'radio', className: 'gm-seg-btn', title: title || label,
                        'aria-checked': String(value === current), dataset: {value: String(value)}}, label);
  b.addEventListener('click', function () { onPick(value); });
  return b;
}
function syncSeg(group, current) {
  Array.prototype.forEach.call(group.querySelectorAll('.gm-seg-btn'), function (b) {
    b.setAttribute('aria-checked', String(b.dataset.value === String(current)));
  });
}
function radioKeys(group) {  // arrow keys move between the radios of a group (ARIA radiogroup)
  group.addEventListener('keydown', function (e) {
    if (['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].indexOf(e.key) < 0) { return; }
    var buttons = Array.prototype.slice.call(group.querySelectorAll('.gm-seg-btn'));
    var i = buttons.indexOf(document.activeElement);
    if (i < 0) { return; }
    var next = buttons[(i + (e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 1) + buttons.length) % buttons.length];
    next.focus(); next.click(); e.preventDefault();
  });
}

var levelGroup = $('gm-levels'), metricGroup = $('gm-metrics');
LEVELS.forEach(function (lv) {
  levelGroup.appendChild(segButton(levelGroup, lv.name, lv.level, state.level, setLevel, '按' + lv.name + '着色'));
});
Object.keys(METRICS).forEach(function (key) {
  var m = METRICS[key];
  metricGroup.appendChild(segButton(metricGroup, m.label, key, state.metric, setMetric, m.label + '：' + m.formula));
});
radioKeys(levelGroup); radioKeys(metricGroup);
$('gm-cameras').checked = state.cameras;
$('gm-cameras').addEventListener('change', function (e) { setCameras(e.target.checked); });
$('gm-area-close').addEventListener('click', function () { clearSelection(); });

/* ------------------------------------------------------------ layers */

function loadTileInfo(layer) {
  return tileInfo(layer).then(function (info) { state.tileInfo[layer] = info; return info; });
}

function trackTiles(grid) {
  grid.on('tilefetcherror', function () { state.tileErrors = (state.tileErrors || 0) + 1; });
  grid.on('load', function () { if (grid === layers.area) { renderRank(); } });
  return grid;
}

function buildAreaLayers() {
  var level = state.level, key = levelKey(level);
  var parentKey = level >= 2 ? levelKey(level - 1) : null;
  return Promise.all([loadTileInfo(key), parentKey ? loadTileInfo(parentKey) : null]).then(function (infos) {
    if (level !== state.level) { return; }  // switched again meanwhile
    if (layers.area) { map.removeLayer(layers.area); }
    if (layers.outline) { map.removeLayer(layers.outline); layers.outline = null; }
    var info = infos[0];
    layers.area = trackTiles(areaGrid({
      layer: key, style: areaStyle(state.metric, 'light'), pane: 'gm-areas', revision: state.revision,
      maxNativeZoom: info.maxzoom, minNativeZoom: info.minzoom, minZoom: Math.max(0, info.minzoom - 2)
    })).addTo(map);
    if (parentKey) {
      var pinfo = infos[1];
      layers.outline = trackTiles(areaGrid({
        layer: parentKey, style: outlineStyle('light', level - 1), pane: 'gm-outline', revision: state.revision,
        maxNativeZoom: pinfo.maxzoom, minNativeZoom: pinfo.minzoom, minZoom: Math.max(0, pinfo.minzoom - 2)
      })).addTo(map);
    }
    zoomNotice();
    if (info.error === 401 || info.error === 403) {
      notice('地图瓦片需要令牌：请在地址后加上 ?token=查看令牌。', true);
    }
  });
}

function buildCameraLayer() {
  if (layers.cameras) { map.removeLayer(layers.cameras); layers.cameras = null; }
  if (!state.cameras) { zoomNotice(); return Promise.resolve(); }
  return loadTileInfo('cameras').then(function (info) {
    if (!state.cameras) { return; }
    if (layers.cameras) { map.removeLayer(layers.cameras); }
    var minzoom = info.error ? CAMERA_MIN_ZOOM_DEFAULT : info.minzoom;
    layers.cameras = trackTiles(areaGrid({
      layer: 'cameras', style: cameraStyle(), pane: 'gm-cameras', revision: state.revision,
      maxNativeZoom: info.maxzoom, minNativeZoom: minzoom, minZoom: minzoom,
      featureId: function (f) { return f.properties.device_id; }
    })).addTo(map);
    zoomNotice();
  });
}

function zoomNotice() {
  var msgs = [];
  var info = state.tileInfo[levelKey(state.level)];
  if (info && layers.area && map.getZoom() < layers.area.options.minZoom) {
    msgs.push(levelName(state.level) + '在第 ' + layers.area.options.minZoom + ' 级以上显示');
  }
  if (state.cameras && layers.cameras && map.getZoom() < layers.cameras.options.minZoom) {
    msgs.push('摄像头在第 ' + layers.cameras.options.minZoom + ' 级以上显示');
  }
  if (msgs.length) { notice(msgs.join('；') + '，请放大地图。'); } else { notice(null); }
}

var noticeTimer = null;
function notice(text, sticky) {
  var box = $('gm-notice');
  clearTimeout(noticeTimer);
  if (!text) { box.hidden = true; return; }
  box.textContent = text;
  box.hidden = false;
  if (!sticky) { noticeTimer = setTimeout(function () { box.hidden = true; }, 8000); }
}

/* ------------------------------------------------------------ state changes */

function setLevel(level) {
  if (level === state.level) { return; }
  state.level = level;
  syncSeg(levelGroup, level);
  writeHash();
  buildAreaLayers();
  refreshSummary();
}

function setMetric(metric) {
  if (metric === state.metric) { return; }
  state.metric = metric;
  syncSeg(metricGroup, metric);
  writeHash();
  if (layers.area) { restyle(layers.area, areaStyle(metric, 'light')); }
  renderLegend();
  renderRank();
  if (state.area) { renderArea(state.area); }
  if (state.viewSummary) { renderSummary(state.viewSummary); }
}

function setCameras(on) {
  state.cameras = !!on;
  $('gm-cameras').checked = state.cameras;
  writeHash();
  renderLegend();
  buildCameraLayer();
}

function renderLegend() {
  fill($('gm-legend'), legendNodes(state.metric, {cameras: state.cameras}));
}

/* ------------------------------------------------------------ summary of the view */

var summaryAbort = null;
function refreshSummary() { state.summaryDue = true; fetchSummary(); }
var fetchSummary = debounce(function () {
  state.summaryDue = false;
  if (summaryAbort) { summaryAbort.abort(); }
  summaryAbort = new AbortController();
  var b = map.getBounds();
  var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(',');
  var level = state.level;
  state.pending++;
  api('api/v1/summary', {params: {level: level, bbox: bbox}, signal: summaryAbort.signal})
    .then(function (s) { state.viewSummary = s; s._level = level; renderSummary(s); })
    .catch(function (err) {
      if (err && err.name === 'AbortError') { return; }
      fill($('gm-view-kpis'), el('p', {className: 'gm-error'}, '无法读取视野汇总：' + (err.message || err)));
      fill($('gm-view-facts'));
    })
    .then(function () { state.pending--; });
}, 300);

function kpi(label, rate, sub) {
  var c = classOfRate(rate);
  return el('div', {className: 'gm-kpi'},
    el('div', {className: 'gm-kpi-label'}, label),
    el('div', {className: 'gm-kpi-value'}, pct(rate)),
    el('div', {className: 'gm-kpi-bar', 'aria-hidden': 'true'},
      el('span', {style: {width: (typeof rate === 'number' ? Math.min(100, rate * 100) : 0) + '%', background: c.colour}}),
      el('i', {style: {left: (TARGET * 100) + '%'}})),
    el('div', {className: 'gm-kpi-sub'}, sub));
}
function facts(list, pairs) {
  fill(list, pairs.filter(Boolean).map(function (p) {
    return [el('dt', null, p[0]), el('dd', {className: p[2] || null}, p[1])];
  }));
}

function renderSummary(s) {
  var lvName = levelName(s._level !== undefined ? s._level : state.level);
  fill($('gm-view-title'), '当前视野', el('span', {className: 'gm-muted'}, ' · ' + lvName + ' ' + num(s.areas) + ' 个'));
  fill($('gm-view-kpis'),
    kpi('上云率', s.online_rate, '在线 ' + num(s.online) + ' / 已安装 ' + num(s.installed)),
    kpi('安装率', s.rollout_rate, '已安装 ' + num(s.installed) + ' / 计划 ' + num(s.planned)));
  facts($('gm-view-facts'), [
    ['计划摄像头', num(s.planned)], ['已安装', num(s.installed)], ['在线', num(s.online)],
    s.blind !== undefined && s.blind !== null ? ['无摄像头的' + lvName, num(s.blind), s.blind ? 'gm-warn' : null] : null
  ]);
}

/* ------------------------------------------------------------ classes and lowest areas on screen */

var LOW_COUNT = 8;
var renderRank = debounce(function () {
  var grid = layers.area;
  if (!grid) { return; }
  var m = METRICS[state.metric], lvName = levelName(state.level);
  var areas = gridAreas(grid, map, map.getBounds());
  fill($('gm-rank-title'), '视野内分级', el('span', {className: 'gm-muted'}, ' · ' + lvName + '按' + m.label));
  fill($('gm-rank-dist'), distributionNodes(areas, state.metric, ' 个'));
  var low = areas.filter(function (p) {
    var r = p[state.metric];
    return rateClass(p, state.metric) !== NO_DATA && typeof r === 'number' && r < TARGET;
  }).sort(function (a, b) { return a[state.metric] - b[state.metric] || (a.code < b.code ? -1 : 1); });
  fill($('gm-rank-low-title'), '需关注', el('span', {className: 'gm-muted'},
       ' · 低于 ' + Math.round(TARGET * 100) + '% 的' + lvName + ' ' + low.length + ' 个' +
       (low.length > LOW_COUNT ? '，最低 ' + LOW_COUNT + ' 个' : '')));
  fill($('gm-rank-low'), low.length ? low.slice(0, LOW_COUNT).map(function (p) {
    return el('li', null, el('button', {type: 'button', className: 'gm-child', dataset: {code: String(p.code)},
                                        onclick: function () { select(String(p.code), {fly: true, focus: true}); }},
      el('span', {className: 'gm-child-name'}, p.name || p.code),
      el('code', {className: 'gm-child-code'}, String(p.code)),
      rateChip(p, state.metric)));
  }) : el('li', {className: 'gm-muted'}, areas.length ? '视野内没有低于目标的' + lvName + '。' : '放大或移动地图以查看区域。'));
}, 250);

/* ------------------------------------------------------------ selected area */

var areaAbort = null;
function select(code, opts) {
  opts = opts || {};
  if (areaAbort) { areaAbort.abort(); }
  areaAbort = new AbortController();
  state.selected = code;
  writeHash();
  state.pending++;
  return api('api/v1/areas/' + encodeURIComponent(code), {signal: areaAbort.signal})
    .then(function (feature) {
      state.area = feature;
      renderArea(feature);
      highlight(feature);
      if (opts.fly) { flyToArea(feature); }
      if (opts.focus) { $('gm-area-name').focus(); }
    })
    .catch(function (err) {
      if (err && err.name === 'AbortError') { return; }
      notice(err.status === 404 ? '没有编码为 ' + code + ' 的区域。' : '无法读取区域：' + (err.message || err));
    })
    .then(function () { state.pending--; });
}

function clearSelection() {
  state.selected = null; state.area = null;
  $('gm-area').hidden = true;
  if (layers.highlight) { map.removeLayer(layers.highlight); layers.highlight = null; }
  writeHash();
}

function flyToArea(feature) {
  var bb = feature.bbox || (feature.properties && feature.properties.bbox);
  var bounds = bb ? L.latLngBounds([bb[1], bb[0]], [bb[3], bb[2]]) : (layers.highlight ? layers.highlight.getBounds() : null);
  if (bounds && bounds.isValid()) {
    state.flying = true;
    map.once('moveend', function () { state.flying = false; });
    map.flyToBounds(bounds, {paddingTopLeft: [40, 90], paddingBottomRight: [40, 40], maxZoom: 17, duration: 0.8});
  }
}

function highlight(feature) {
  if (layers.highlight) { map.removeLayer(layers.highlight); }
  if (!feature.geometry) { layers.highlight = null; return; }
  // a dark halo under a cyan line: visible on every fill colour and on a basemap
  layers.highlight = L.featureGroup([
    L.geoJSON(feature, {pane: 'gm-highlight', interactive: false,
                        style: {color: '#0b2239', weight: 7, opacity: 0.5, fill: false, lineJoin: 'round'}}),
    L.geoJSON(feature, {pane: 'gm-highlight', interactive: false,
                        style: {color: '#00e5ff', weight: 3.5, opacity: 1, fill: false, lineJoin: 'round'}})
  ]).addTo(map);
}

function rateChip(props, metric) {
  var c = rateClass(props, metric);
  return el('span', {className: 'gm-chip', style: {background: c.colour}, title: c.label}, pct(props[metric], 1));
}

function renderArea(feature) {
  var p = feature.properties || {};
  var crumbs = (p.ancestors || []).map(function (a) {
    return el('button', {type: 'button', className: 'gm-crumb', title: a.code,
                         onclick: function () { select(a.code, {fly: true}); }}, a.name);
  });
  fill($('gm-area-crumbs'), crumbs.length ? crumbs : el('span', {className: 'gm-muted'}, '顶级区域'));
  $('gm-area-name').textContent = p.name || p.code;
  $('gm-area-name').setAttribute('tabindex', '-1');
  $('gm-area-level').textContent = p.level_name || levelName(p.level);
  $('gm-area-code').textContent = p.code;
  fill($('gm-area-kpis'),
    kpi('上云率', p.online_rate, '在线 ' + num(p.online) + ' / 已安装 ' + num(p.installed)),
    kpi('安装率', p.rollout_rate, '已安装 ' + num(p.installed) + ' / 计划 ' + num(p.planned)));
  var worker = p.worker_name ? p.worker_name + (p.worker_phone ? '（' + p.worker_phone + '）' : '') : '—';
  facts($('gm-area-facts'), [
    ['户数', num(p.households)],
    p.population !== undefined && p.population !== null ? ['人口', num(p.population)] : null,
    ['网格员', worker],
    ['计划摄像头', num(p.planned)], ['已安装', num(p.installed)], ['在线', num(p.online)],
    p.camera_count !== undefined && p.camera_count !== null ? ['台账摄像头', num(p.camera_count)] : null,
    p.area_m2 ? ['面积', (p.area_m2 / 1e6).toFixed(2) + ' 平方公里'] : null
  ]);
  var children = p.children || [];
  var childLevel = children.length ? children[0].level : null;
  fill($('gm-children-title'), childLevel !== null ? '下级' + levelName(childLevel) : '下级区域',
       el('span', {className: 'gm-muted'}, ' ' + children.length + ' 个 · 按' + METRICS[state.metric].label));
  fill($('gm-area-children'), children.length ? children.map(function (c) {
    // "杨店村第一网格3号微网格" under "杨店村第一网格" reads "3号微网格"
    var name = c.name || c.code;
    var shortName = p.name && name.indexOf(p.name) === 0 && name.length > p.name.length ? name.slice(p.name.length) : name;
    return el('li', null, el('button', {type: 'button', className: 'gm-child', dataset: {code: c.code}, title: name,
                                        onclick: function () { select(c.code, {fly: true, focus: true}); }},
      el('span', {className: 'gm-child-name'}, shortName),
      el('code', {className: 'gm-child-code'}, c.code),
      rateChip(c, state.metric)));
  }) : el('li', {className: 'gm-muted'}, '没有下级区域'));
  $('gm-area').hidden = false;
}

/* ------------------------------------------------------------ map clicks and hover */

function cameraAt(latlng) {
  return state.cameras && layers.cameras ? hitTest(layers.cameras, map, latlng, 6) : null;
}

map.on('click', function (e) {
  var cam = cameraAt(e.latlng);
  if (cam) { cameraPopup(e.latlng, cam.properties); return; }
  var hit = hitTest(layers.area, map, e.latlng);
  if (hit && hit.properties.code) { select(String(hit.properties.code)); }
});

function cameraPopup(latlng, c) {
  var stateKey = cameraState(c), label = '未知';
  CAMERA_STATES.forEach(function (s) { if (s.key === stateKey) { label = s.label; } });
  var node = el('div', {className: 'gm-camera-pop'},
    el('strong', null, c.name || '摄像头'),
    el('dl', {className: 'gm-facts gm-facts-tight'},
      el('dt', null, '设备编码'), el('dd', null, el('code', null, c.device_id)),
      el('dt', null, '状态'), el('dd', null, label),
      el('dt', null, '运营商'), el('dd', null, c.operator || '—'),
      el('dt', null, '所属区域'), el('dd', null, c.area_code
        ? el('button', {type: 'button', className: 'gm-linkbtn', onclick: function () { select(String(c.area_code), {fly: true}); }}, c.area_code)
        : '—')));
  L.popup({maxWidth: 320}).setLatLng(latlng).setContent(node).openOn(map);
}

var hoverFrame = null, hoverEvent = null;
map.on('mousemove', function (e) {
  hoverEvent = e;
  if (hoverFrame) { return; }
  hoverFrame = requestAnimationFrame(function () {
    hoverFrame = null;
    var ev = hoverEvent, box = $('gm-hover');
    var cam = cameraAt(ev.latlng);
    var hit = cam || hitTest(layers.area, map, ev.latlng);
    map.getContainer().style.cursor = hit ? 'pointer' : '';
    if (!hit) { box.hidden = true; return; }
    var p = hit.properties;
    if (cam) {
      var st = cameraState(p);
      fill(box, el('strong', null, p.name || p.device_id), el('span', null, st === 'online' ? '在线' : st === 'offline' ? '离线' : '规划中'));
    } else {
      fill(box, el('strong', null, p.name || p.code),
           el('span', null, METRICS[state.metric].label + ' ' + pct(p[state.metric])));
    }
    box.style.left = (ev.containerPoint.x + 14) + 'px';
    box.style.top = (ev.containerPoint.y + 14) + 'px';
    box.hidden = false;
  });
});
map.on('mouseout', function () { $('gm-hover').hidden = true; });
map.on('zoomend', zoomNotice);
map.on('moveend', refreshSummary);
map.on('moveend', function () { renderRank(); });

/* ------------------------------------------------------------ search */

var search = {input: $('gm-search-input'), list: $('gm-search-list'), results: [], active: -1, abort: null};

function closeSearch() {
  search.list.hidden = true;
  search.input.setAttribute('aria-expanded', 'false');
  search.input.removeAttribute('aria-activedescendant');
  search.active = -1;
}
function setActive(i) {
  var items = search.list.querySelectorAll('[role=option]');
  search.active = i;
  Array.prototype.forEach.call(items, function (item, j) { item.setAttribute('aria-selected', String(j === i)); });
  if (items[i]) { search.input.setAttribute('aria-activedescendant', items[i].id); items[i].scrollIntoView({block: 'nearest'}); }
}
function choose(result) {
  closeSearch();
  search.input.value = result.name || result.code;
  if (typeof result.level === 'number' && result.level > state.level) { setLevel(result.level); }
  if (result.bbox) { flyToArea({bbox: result.bbox}); }
  select(result.code, {fly: !result.bbox});
}
var runSearch = debounce(function () {
  var q = search.input.value.trim();
  if (search.abort) { search.abort.abort(); }
  if (!q) { closeSearch(); return; }
  search.abort = new AbortController();
  state.pending++;
  api('api/v1/search', {params: {q: q, limit: 10}, signal: search.abort.signal})
    .then(function (data) {
      search.results = (data && data.results) || [];
      fill(search.list, search.results.length ? search.results.map(function (r, i) {
        return el('li', {id: 'gm-search-opt-' + i, role: 'option', className: 'gm-search-item', 'aria-selected': 'false',
                         dataset: {code: r.code},
                         onmousedown: function (e) { e.preventDefault(); choose(r); }},
          el('span', {className: 'gm-search-name'}, r.name || r.code),
          el('span', {className: 'gm-badge'}, r.level_name || levelName(r.level)),
          el('code', null, r.code));
      }) : el('li', {className: 'gm-search-empty', role: 'option', 'aria-disabled': 'true'}, '没有找到“' + q + '”'));
      search.list.hidden = false;
      search.input.setAttribute('aria-expanded', 'true');
      search.active = -1;
    })
    .catch(function (err) {
      if (err && err.name === 'AbortError') { return; }
      fill(search.list, el('li', {className: 'gm-search-empty'}, '搜索失败：' + (err.message || err)));
      search.list.hidden = false;
    })
    .then(function () { state.pending--; });
}, 200);

search.input.addEventListener('input', runSearch);
search.input.addEventListener('keydown', function (e) {
  var n = search.results.length;
  if (e.key === 'ArrowDown' && n) { setActive((search.active + 1) % n); e.preventDefault(); }
  else if (e.key === 'ArrowUp' && n) { setActive((search.active - 1 + n) % n); e.preventDefault(); }
  else if (e.key === 'Enter') {
    e.preventDefault();
    if (search.active >= 0 && search.results[search.active]) { choose(search.results[search.active]); }
    else if (n && !search.list.hidden) { choose(search.results[0]); }
  } else if (e.key === 'Escape') { closeSearch(); }
});
search.input.addEventListener('blur', function () { setTimeout(closeSearch, 150); });

/* ------------------------------------------------------------ URL hash */

function readHash() {
  var h = new URLSearchParams(location.hash.replace(/^#/, ''));
  var lv = levelOfKey(h.get('level'));
  if (lv !== null) { state.level = lv; }
  if (METRICS[h.get('metric')]) { state.metric = h.get('metric'); }
  state.cameras = h.get('cameras') === '1';
  state.selected = h.get('area') || null;
}
function writeHash() {
  var parts = ['level=' + levelKey(state.level), 'metric=' + state.metric];
  if (state.cameras) { parts.push('cameras=1'); }
  if (state.selected) { parts.push('area=' + encodeURIComponent(state.selected)); }
  history.replaceState(null, '', location.pathname + location.search + '#' + parts.join('&'));
}

/* ------------------------------------------------------------ data revision */

function applyRevision(rev) {
  var changed = state.revision !== null && rev !== null && rev !== state.revision;
  state.revision = rev;
  $('gm-revision').textContent = rev === null ? '—' : String(rev);
  if (!changed) { return; }
  ['area', 'outline', 'cameras'].forEach(function (k) {
    if (layers[k]) { layers[k] = trackTiles(refreshGrid(map, layers[k], rev)); }
  });
  refreshSummary();
  if (state.selected) { select(state.selected); }
}
setInterval(function () { fetchRevision().then(applyRevision); }, 60000);
watchRevision(applyRevision, {urlToken: !!pageToken});

/* ------------------------------------------------------------ start */

function start() {
  renderLegend();
  writeHash();
  var county = api('api/v1/areas', {params: {level: 0, geometry: 'none', limit: 5}}).then(function (fc) {
    var f = fc && fc.features && fc.features[0];
    if (f && fc.features.length === 1) {
      $('gm-county-name').textContent = f.properties.name;
      document.title = f.properties.name + ' · 网格化视频监控一张图';
    }
  }).catch(function (err) {
    if (err.status === 401 || err.status === 403) { notice(err.message, true); }
  });
  return fetchRevision().then(function (rev) {
    applyRevision(rev);
    return loadTileInfo('county');
  }).then(function (info) {
    var b = info && info.bounds;
    if (b && b.length === 4) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {padding: [20, 20]}); }
    return Promise.all([buildAreaLayers(), buildCameraLayer(), county]);
  }).then(function () {
    refreshSummary();
    if (state.selected) { select(state.selected, {fly: true}); }
    state.started = true;
  });
}

/* For the page tests and the browser console. */
window.gm = {
  map: map, state: state, layers: layers, select: select, setLevel: setLevel, setMetric: setMetric,
  setCameras: setCameras, hitTest: function (lat, lng) {
    var hit = hitTest(layers.area, map, L.latLng(lat, lng));
    return hit ? hit.properties : null;
  },
  /* true when no tile layer is loading and no API request is pending */
  idle: function () {
    var busy = [layers.area, layers.outline, layers.cameras].some(function (g) {
      return g && map.hasLayer(g) && g.isLoading();
    });
    return state.started && !busy && !state.summaryDue && state.pending === 0 && !map._animatingZoom &&
           !(map._panAnim && map._panAnim._inProgress) && !state.flying;
  },
  started: start()
};
