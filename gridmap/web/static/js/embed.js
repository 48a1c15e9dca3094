/*
 * /embed: a full-screen map for big screens and iframes. No controls and no interaction; the
 * areas of one level coloured by one metric, the county outline, a legend, the county's figures
 * and a status line. It follows the data revision on the server's event stream (/events/revision,
 * at most one reload a second) and, every `refresh` seconds, on /healthz; when it moved, it reloads
 * its tiles (URLs carry ?v=<revision>: the server never answers them from an older revision) and
 * its figures.
 *
 * The page's ?token= (an embed token is enough) is passed to every tile request in the URL and
 * to /api/v1/map/screen in the Authorization header. That one read (which an embed token may make)
 * brings the figures, the ranking, the trend and the offline cameras of the area the screen shows:
 * ?area=<code>, default the county. Only when it refuses are the figures and the ranking summed
 * from the tiles' own planned / installed / online properties (the same numbers).
 *
 * Offline (?package=<URL of a .pmtiles> or ?package=file, see package.js): the tiles come from the
 * package, the figures are summed from them, and nothing is asked of the server (no /tiles,
 * /healthz, event stream or API): the status line names the package, its data revision and when it
 * was exported, and says the picture does not follow live data.
 *
 * The command-centre panels (?panels=, default all; see embed.css for the layout, which scales
 * with the viewport): big figures (kpi), a ranking of the area's children (the townships of a
 * county, the villages of a township …) by ?rank=, the 30-day trend of both rates (drawn as an
 * inline SVG), the latest offline cameras (most recently seen first) and a clock; all but the clock
 * from /api/v1/map/screen (from a package: the figures and the townships' ranking summed from its
 * tiles). With ?area= the map is fitted to that area. When the server stops answering, the screen
 * is dimmed under a banner "数据截至 … （连接中断）".
 */

import {NONE, showBasemap} from './basemap.js';
import {
  api,
  areaGrid,
  areaStyle,
  cameraStyle,
  classOfRate,
  config,
  debounce,
  distributionNodes,
  el,
  featuresOf,
  fetchRevision,
  fill,
  levelKey as keyOfLevel,
  legendNodes,
  levelName,
  levelOfKey,
  METRICS,
  NO_DATA,
  num,
  pct,
  rateClass,
  refreshGrid,
  sumFigures,
  TARGET,
  tileInfo,
  url,
  watchRevision
} from './common.js';
import {apiLabelSource, labelLayer, listLabelSource} from './overlays.js';
import {choosePackage, openPackage, packageLabel, packageParam} from './package.js';

const $ = (id) => document.getElementById(id);
const page = config.page;
const theme = page.theme === 'light' ? 'light' : 'dark';
const levelKey = page.layer,
  level = levelOfKey(levelKey),
  metric = page.metric;
document.body.classList.add(`gm-embed-${theme}`);
/* The panels shown (a bundle's page predates ?panels=: all of them), the ranking's metric. */
const PANELS = page.panels || ['kpi', 'rank', 'trend', 'offline', 'clock'];
const shown = (p) => PANELS.indexOf(p) >= 0 && (p !== 'kpi' || page.summary !== false);
const rankMetric = page.rank || metric;
/* How many offline cameras the list shows; days of trend. */
const OFFLINE_ROWS = 4;
const TREND_DAYS = 30;

const state = {
  revision: null,
  summary: null,
  summarySource: null,
  checkedAt: null,
  failed: false,
  fitted: false,
  package: null,
  /* The ranking (rows {code, name, rate, …}), the trend points, the offline cameras: null until read. */
  rank: null,
  rankSource: null,
  trend: null,
  offline: null,
  countyCode: null,
  /* The last /api/v1/map/screen answer (null: not read, or refused). */
  screen: null,
  /* The layer whose outline is drawn: the county's, or the level of the screen's ?area=. */
  outlineKey: 'county',
  basemapError: null
};
const layers = {area: null, outline: null, cameras: null, townships: null};

const map = L.map('gm-map', {
  zoomControl: false,
  attributionControl: !!page.basemap && page.basemap !== NONE,
  dragging: false,
  scrollWheelZoom: false,
  doubleClickZoom: false,
  boxZoom: false,
  keyboard: false,
  touchZoom: false,
  tap: false,
  zoomSnap: 0.1,
  preferCanvas: true
});
if (map.attributionControl) {
  map.attributionControl.setPrefix(false);
}
[
  ['gm-areas', 400],
  ['gm-outline', 420],
  ['gm-cameras', 440]
].forEach((p) => {
  map.createPane(p[0]).style.zIndex = p[1];
});
map.setView([35, 105], 5);
// ?basemap= (the server checked it; default GRIDMAP_BASEMAP_DEFAULT): lighter fills over it
const basemapShown = !!showBasemap(map, page.basemap, {
  onError: (text) => {
    state.basemapError = text;
    renderStatus();
  }
});

/* Names of the areas from the townships down to the level shown, where they fit (overlays.js). */
const labels = labelLayer(map, {
  levels: () => {
    if (page.labels === false) {
      return [];
    }
    const out = [];
    // a city's (or province's) screen names its counties too
    const first = state.screen && state.screen.area.level < 0 ? 0 : 1;
    for (let lv = first; lv <= Math.max(1, level); lv++) {
      out.push(lv);
    }
    return out;
  },
  source: packageParam ? null : apiLabelSource(),
  revision: () => state.revision,
  obstacles: () => Array.prototype.slice.call(document.querySelectorAll('.gm-embed-legend, .gm-embed-overlay')),
  zIndex: 450
});

const m = METRICS[metric];
$('gm-embed-heading').textContent = ` · ${levelName(level)}${m.label}`;
$('gm-embed-subtitle').textContent =
  m.formula + (packageParam ? ' · 离线数据包' : page.refresh ? ' · 实时更新' : ' · 静态画面');
fill($('gm-embed-legend'), legendNodes(metric, {cameras: page.cameras}));

function grids(info) {
  ['area', 'outline', 'cameras', 'townships'].forEach((k) => {
    if (layers[k]) {
      map.removeLayer(layers[k]);
      layers[k] = null;
    }
  });
  const i = info.area,
    o = info.outline;
  layers.area = areaGrid({
    layer: levelKey,
    style: areaStyle(metric, theme, basemapShown),
    pane: 'gm-areas',
    urlToken: true,
    revision: state.revision,
    package: state.package,
    maxNativeZoom: i.maxzoom,
    minNativeZoom: i.minzoom
  }).addTo(map);
  if (levelKey !== 'county' || state.outlineKey !== 'county') {
    const outlined = state.outlineKey === 'county' ? null : state.screen.area.code;
    layers.outline = areaGrid({
      layer: state.outlineKey,
      pane: 'gm-outline',
      urlToken: true,
      revision: state.revision,
      package: state.package,
      maxNativeZoom: o.maxzoom,
      minNativeZoom: o.minzoom,
      // the county, or only the screen's area among the areas of its level
      style: (p) =>
        outlined && p.code !== outlined
          ? {fill: false, stroke: false, weight: 0}
          : {
              fill: false,
              stroke: true,
              weight: 3,
              color: theme === 'dark' ? '#5cc8ff' : '#0f2540',
              opacity: 0.95
            }
    }).addTo(map);
  }
  if (page.cameras) {
    layers.cameras = areaGrid({
      layer: 'cameras',
      pane: 'gm-cameras',
      urlToken: true,
      revision: state.revision,
      package: state.package,
      style: cameraStyle(),
      maxNativeZoom: info.cameras.maxzoom,
      minNativeZoom: info.cameras.minzoom,
      minZoom: info.cameras.minzoom,
      featureId: (f) => f.properties.device_id
    }).addTo(map);
  }
  // The ranking from tiles (an embed token, a package): the township layer's properties, drawn
  // invisibly when the map shows another level.
  if (shown('rank') && state.rankSource === 'tiles' && levelKey !== 'township' && info.townships) {
    layers.townships = areaGrid({
      layer: 'township',
      pane: 'gm-outline',
      urlToken: true,
      revision: state.revision,
      package: state.package,
      maxNativeZoom: info.townships.maxzoom,
      minNativeZoom: info.townships.minzoom,
      style: () => ({fill: false, stroke: false, weight: 0})
    }).addTo(map);
  }
  wire();
}

/* When the tiles are in: the county's name (from the county features) and the figures. */
function wire() {
  const countyLayer = layers.outline || layers.area;
  countyLayer.on('load', () => {
    countyName(countyLayer);
  });
  layers.area.on('load', () => {
    if (state.summarySource === 'tiles') {
      summaryFromTiles();
    }
    renderDistribution();
  });
  const towns = levelKey === 'township' ? layers.area : layers.townships;
  if (towns && state.rankSource === 'tiles') {
    towns.on('load', () => {
      rankFromTiles(towns);
    });
  }
}

/* How many areas are in each class (every area of the county is on screen and loaded). */
function renderDistribution() {
  if (!page.summary) {
    return;
  }
  const areas = featuresOf(layers.area).filter((p) => !page.area || String(p.code).indexOf(page.area) === 0);
  const below = areas.filter((p) => {
    const c = rateClass(p, metric);
    return c !== NO_DATA && c.upper !== null && c.upper <= TARGET * 100;
  }).length;
  const box = $('gm-embed-dist');
  fill(
    box,
    el(
      'div',
      {className: 'gm-legend-title'},
      `${levelName(level)}分级`,
      el('span', {className: 'gm-legend-formula'}, `（低于 ${Math.round(TARGET * 100)}%：${num(below)} 个）`)
    ),
    distributionNodes(areas, metric, ' 个')
  );
  box.hidden = !areas.length;
}

function countyName(grid) {
  const names = {};
  featuresOf(grid).forEach((p) => {
    if (p.level === 0) {
      names[p.name] = 1;
    }
  });
  const list = Object.keys(names);
  featuresOf(grid).forEach((p) => {
    if (p.level === 0) {
      state.countyCode = p.code;
    }
  });
  if (list.length === 1 && !state.screen) {
    $('gm-embed-county').textContent = list[0];
    document.title = `${list[0]} · 覆盖率大屏`;
  }
}

function fit(bounds) {
  if (!bounds) {
    return;
  }
  map.invalidateSize();
  map.fitBounds(
    [
      [bounds[1], bounds[0]],
      [bounds[3], bounds[2]]
    ],
    {padding: [20, 20], animate: false}
  );
  state.fitted = true;
}

/* ------------------------------------------------------------ figures */

/* Class colours as text on the dark theme (the two darkest classes lightened for contrast). */
const DARK_TEXT = {ge98: '#5cb6ff', lt80: '#ff6161'};

function renderSummary(s) {
  state.summary = s;
  const box = $('gm-embed-stats');
  function stat(label, value, sub, cls, extra) {
    return el(
      'div',
      {className: `gm-stat${extra ? ` ${extra}` : ''}`},
      el('div', {className: 'gm-stat-label'}, label),
      el(
        'div',
        {className: 'gm-stat-value', style: cls && theme === 'dark' ? {color: DARK_TEXT[cls.key] || cls.colour} : null},
        value
      ),
      sub ? el('div', {className: 'gm-stat-sub'}, sub) : null
    );
  }
  fill(
    box,
    stat('上云率', pct(s.online_rate), '在线 / 已安装', classOfRate(s.online_rate)),
    stat('安装率', pct(s.rollout_rate), '已安装 / 计划', classOfRate(s.rollout_rate)),
    el(
      'div',
      {className: 'gm-stat-counts'},
      stat('计划', num(s.planned), null, null, 'gm-stat-count'),
      stat('已安装', num(s.installed), null, null, 'gm-stat-count'),
      stat('在线', num(s.online), null, null, 'gm-stat-count'),
      stat(
        `${levelName(level)}数`,
        num(s.areas),
        s.blind !== undefined && s.blind !== null ? `无摄像头 ${num(s.blind)}` : null,
        null,
        'gm-stat-count'
      )
    )
  );
  box.hidden = !shown('kpi');
}

/* The county's figures summed from the loaded tiles: each area once (featuresOf: tiles repeat
   the areas that cross their edges), the counts summed, the rates recomputed from the sums. */
function summaryFromTiles() {
  renderSummary(sumFigures(featuresOf(layers.area)));
}

/* Figures: from /api/v1/summary when the page has no token (reading is open); with a token
   (usually an embed token, which may read tiles only) summed from the tiles. */
function loadSummary() {
  if (!page.summary || state.summarySource !== 'tiles') {
    return Promise.resolve(); // from the screen read (loadScreen)
  }
  if (layers.area && !layers.area.isLoading()) {
    summaryFromTiles();
  } // else when the tiles are loaded
  return Promise.resolve();
}

/* ------------------------------------------------------------ panels */

/* The level of the ranked children's name: the townships (乡镇) of a county, else LEVELS' name. */
function childrenName(areaLevel) {
  return areaLevel === 0 ? '乡镇' : levelName(areaLevel + 1);
}

function note(id, text) {
  const box = $(id);
  box.textContent = text || '';
  box.hidden = !text;
}

function rateColour(rate) {
  const c = classOfRate(rate);
  return c === NO_DATA ? c.colour : theme === 'dark' ? DARK_TEXT[c.key] || c.colour : c.colour;
}

/* The ranking: highest rate first (no rate last), each row its rank, name, a bar and the rate. */
function renderRank(rows) {
  state.rank = rows
    .map((r) => ({
      code: r.code,
      name: r.name || r.code,
      planned: r.planned || 0,
      installed: r.installed || 0,
      online: r.online || 0,
      rate: r[rankMetric] === undefined ? null : r[rankMetric]
    }))
    .sort((a, b) => {
      if (a.rate === null || b.rate === null) {
        return (a.rate === null) - (b.rate === null) || (a.code < b.code ? -1 : 1);
      }
      return b.rate - a.rate || (a.code < b.code ? -1 : 1);
    });
  const areaLevel = state.screen ? state.screen.area.level : 0;
  $('gm-rank-title').textContent = `${childrenName(areaLevel)}${METRICS[rankMetric].label}排名`;
  fill(
    $('gm-rank-list'),
    state.rank.map((r, i) =>
      el(
        'li',
        {className: 'gm-rank-row', dataset: {code: r.code}},
        el('span', {className: 'gm-rank-no'}, String(i + 1)),
        el('span', {className: 'gm-rank-name', title: r.name}, r.name),
        el(
          'span',
          {className: 'gm-rank-bar'},
          el('span', {
            style: {width: `${Math.max(0, Math.min(1, r.rate || 0)) * 100}%`, background: rateColour(r.rate)}
          })
        ),
        // the class colour as text on the dark theme only (the light classes are too pale on white)
        el(
          'span',
          {className: 'gm-rank-rate', style: theme === 'dark' ? {color: rateColour(r.rate)} : null},
          pct(r.rate)
        )
      )
    )
  );
  note('gm-rank-note', state.rank.length ? null : `没有${childrenName(areaLevel)}数据`);
  fitRank();
}

/* A ranking longer than its panel (a township's 41 villages) keeps the leaders and the laggards:
   the rows that do not fit are folded into one "… 另有 N 个 …" line in the middle. */
function fitRank() {
  const list = $('gm-rank-list');
  const more = list.querySelector('.gm-rank-more');
  if (more) {
    list.removeChild(more);
  }
  const rows = Array.prototype.slice.call(list.querySelectorAll('.gm-rank-row'));
  rows.forEach((r) => {
    r.hidden = false;
  });
  state.rankFolded = 0;
  if (rows.length < 4 || list.scrollHeight <= list.clientHeight + 1) {
    return;
  }
  const line = el('li', {className: 'gm-rank-more'});
  let keep = Math.max(3, Math.floor(list.clientHeight / rows[0].getBoundingClientRect().height) - 1);
  for (; keep >= 2; keep--) {
    const top = Math.ceil(keep / 2),
      bottom = keep - top;
    rows.forEach((r, i) => {
      r.hidden = i >= top && i < rows.length - bottom;
    });
    state.rankFolded = rows.length - keep;
    line.textContent = `… 另有 ${state.rankFolded} 个 …`;
    list.insertBefore(line, rows[rows.length - bottom] || null);
    if (list.scrollHeight <= list.clientHeight + 1) {
      return;
    }
  }
}
// again whenever the list's room changes (the panel shown, the window resized)
if (window.ResizeObserver) {
  new ResizeObserver(debounce(fitRank, 50)).observe($('gm-rank-list'));
}

/* The ranking from the township tiles' properties (each township once, see featuresOf). */
function rankFromTiles(grid) {
  const rows = featuresOf(grid).filter((p) => p.level === 1);
  rows.forEach((p) => {
    if (p[rankMetric] === undefined) {
      p[rankMetric] = null;
    }
  });
  state.rankSource = 'tiles';
  renderRank(rows);
}

/* Everything the screen shows of its area (figures, ranking, trend, offline cameras) in one read
   of /api/v1/map/screen, which an embed token may make. A refusal (401/403) leaves the figures and
   the ranking to the tiles. */
function loadScreen() {
  return api('api/v1/map/screen', {
    params: {area: page.area, level: level, days: TREND_DAYS, offline: OFFLINE_ROWS},
    cache: 'no-store'
  }).then((body) => {
    state.screen = body;
    const area = body.area;
    if (area.level < 0) {
      labels.update();
    }
    if (area.level === 0) {
      state.countyCode = area.code;
    }
    $('gm-embed-county').textContent = area.name || area.code;
    document.title = `${area.name || area.code} · 覆盖率大屏`;
    if (page.summary) {
      state.summarySource = 'api';
      renderSummary(Object.assign({level: body.level, areas: body.areas, blind: body.blind}, body.figures));
    }
    if (shown('rank')) {
      state.rankSource = 'api';
      renderRank(body.children);
    }
    if (shown('trend')) {
      renderTrend(body.trend.points || []);
    }
    if (shown('offline')) {
      renderOffline(body.offline);
    }
    return body;
  });
}

/* Before the tiles: can the page read /api/v1/map/screen? If not, figures and ranking from tiles. */
function probeScreen() {
  return loadScreen().catch((err) => {
    if (err && err.status === 404) {
      // an unknown ?area=: say so, and show the county from its tiles
      state.areaMissing = err.message;
    }
    if (err && (err.status === 401 || err.status === 403 || err.status === 404)) {
      state.summarySource = 'tiles';
      state.rankSource = 'tiles';
      note('gm-trend-note', '令牌无权读取大屏数据：趋势需要嵌入或查看令牌');
      $('gm-trend-chart').hidden = true;
      $('gm-trend-keys').hidden = true;
      $('gm-embed-offline').hidden = true;
      return null;
    }
    throw err;
  });
}

function isoDay(d) {
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  Object.keys(attrs || {}).forEach((k) => {
    node.setAttribute(k, attrs[k]);
  });
  return node;
}
/* The two rates' colours in the trend (the legend's top classes, readable on either theme). */
const TREND = {
  online_rate: {dark: '#5cc8ff', light: '#0b5cad'},
  rollout_rate: {dark: '#ffd166', light: '#b35c00'}
};

/* The county's trend: both rates, one point a day, in an SVG drawn to the chart's pixel size (so
   lines and dots keep their width at any screen size); the y axis from just under the lowest rate
   to 100 %. */
function renderTrend(points) {
  state.trend = points;
  const box = $('gm-trend-chart');
  const keys = ['online_rate', 'rollout_rate'];
  fill(
    $('gm-trend-keys'),
    keys.map((k) => el('span', {className: 'gm-trend-key', style: {color: TREND[k][theme]}}, METRICS[k].label))
  );
  if (points.length < 2) {
    fill(box);
    note('gm-trend-note', points.length ? '只有 1 天的快照：明天起显示趋势' : '还没有快照（服务器每天自动保存一次）');
    return;
  }
  note('gm-trend-note', null);
  const w = box.clientWidth || 300,
    h = box.clientHeight || 150;
  const unit = parseFloat(getComputedStyle(box).fontSize) || 14;
  const left = unit * 3.2,
    right = unit * 0.6,
    top = unit * 0.6,
    bottom = unit * 1.6;
  const values = [];
  points.forEach((p) => {
    keys.forEach((k) => {
      if (p[k] !== null) {
        values.push(p[k]);
      }
    });
  });
  let lo = Math.min(...values);
  lo = Math.max(0, Math.floor(lo * 20 - 0.5) / 20); // down to a 5 % step, a little below the lowest
  const hi = 1;
  const x = (i) => left + ((w - left - right) * i) / (points.length - 1);
  const y = (v) => top + ((h - top - bottom) * (hi - v)) / (hi - lo || 1);
  const chart = svg('svg', {viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': '近 30 天上云率和安装率'});
  const grid = theme === 'dark' ? 'rgba(160,190,230,.25)' : 'rgba(40,60,90,.2)';
  const label = theme === 'dark' ? '#a9bbd2' : '#435872';
  [lo, Math.round((lo + hi) * 10) / 20, hi].forEach((v) => {
    chart.appendChild(svg('line', {x1: left, x2: w - right, y1: y(v), y2: y(v), stroke: grid, 'stroke-width': 1}));
    const t = svg('text', {x: left - unit * 0.4, y: y(v) + unit * 0.35, 'text-anchor': 'end', fill: label});
    t.setAttribute('font-size', unit * 0.85);
    t.textContent = `${Math.round(v * 100)}%`;
    chart.appendChild(t);
  });
  [0, points.length - 1].forEach((i) => {
    const t = svg('text', {
      x: x(i),
      y: h - unit * 0.3,
      'text-anchor': i ? 'end' : 'start',
      fill: label
    });
    t.setAttribute('font-size', unit * 0.85);
    t.textContent = points[i].date.slice(5);
    chart.appendChild(t);
  });
  keys.forEach((k) => {
    const colour = TREND[k][theme];
    const xy = [];
    points.forEach((p, i) => {
      if (p[k] !== null) {
        xy.push(`${x(i).toFixed(1)},${y(p[k]).toFixed(1)}`);
      }
    });
    chart.appendChild(
      svg('polyline', {
        points: xy.join(' '),
        fill: 'none',
        stroke: colour,
        'stroke-width': Math.max(2, unit * 0.18),
        'stroke-linejoin': 'round',
        class: `gm-trend-line gm-trend-${k}`
      })
    );
    points.forEach((p, i) => {
      if (p[k] !== null) {
        chart.appendChild(
          svg('circle', {
            cx: x(i),
            cy: y(p[k]),
            r: Math.max(2, unit * 0.2),
            fill: colour,
            class: `gm-trend-point gm-trend-${k}`,
            'data-date': p.date,
            'data-rate': p[k]
          })
        );
      }
    });
  });
  const last = points[points.length - 1];
  const title = svg('title');
  title.textContent = `${last.date}：上云率 ${pct(last.online_rate)}，安装率 ${pct(last.rollout_rate)}`;
  chart.appendChild(title);
  fill(box, chart);
}

function when(iso) {
  if (!iso) {
    return '—';
  }
  const d = new Date(iso);
  return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/* The installed cameras that are not online, the ones last seen most recently first (sorted and
   cut by the server), each with the child area it lies in. */
function renderOffline(offline) {
  state.offline = offline.cameras;
  fill(
    $('gm-offline-list'),
    state.offline.map((c) =>
      el(
        'li',
        {className: 'gm-offline-row', dataset: {device: c.device_id}},
        el('span', {className: 'gm-offline-name', title: c.device_id}, c.name || c.device_id),
        el('span', {className: 'gm-offline-when'}, c.last_seen ? `${when(c.last_seen)} 后离线` : '无上线记录'),
        el('span', {className: 'gm-offline-where'}, [c.area_name, c.device_id].filter(Boolean).join(' · '))
      )
    )
  );
  note('gm-offline-note', offline.total ? `共 ${num(offline.total)} 台离线` : '没有离线的摄像头');
}

/* The panels the server's data fills (figures, ranking, trend, offline cameras); a failure leaves
   the last picture (the status line says the connection broke). */
function loadPanels() {
  if (packageParam || state.rankSource === 'tiles') {
    return Promise.resolve();
  }
  return loadScreen().catch(() => {
    state.failed = true;
    renderStatus();
  });
}

/* Which panels show, and what those the data cannot fill say. */
function setupPanels() {
  $('gm-embed-rank').hidden = !shown('rank');
  $('gm-embed-trend').hidden = !shown('trend');
  $('gm-embed-offline').hidden = !shown('offline');
  $('gm-embed-clock').hidden = !shown('clock');
  if (packageParam) {
    $('gm-trend-chart').hidden = true;
    $('gm-trend-keys').hidden = true;
    note('gm-trend-note', '离线数据包不含历史快照：趋势只在连接服务器时显示');
    note('gm-offline-note', '离线数据包：不显示实时离线摄像头');
  }
  ['gm-screen-left', 'gm-screen-right'].forEach((id) => {
    const side = $(id);
    side.classList.toggle(
      'gm-empty',
      Array.from(side.children).every((c) => c.hidden)
    );
  });
  if (shown('clock')) {
    tick();
    setInterval(tick, 1000);
  }
}

const WEEKDAYS = '日一二三四五六';
function tick() {
  const d = new Date();
  fill($('gm-embed-clock'), clock(d), el('small', null, `${isoDay(d)} 星期${WEEKDAYS[d.getDay()]}`));
}

/* ------------------------------------------------------------ status and refresh */

function two(n) {
  return (n < 10 ? '0' : '') + n;
}
function clock(d) {
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
function renderStatus() {
  const box = $('gm-embed-status');
  if (state.package) {
    box.textContent = `${packageLabel(state.package)} · 离线画面，不随实时数据更新`;
    box.classList.add('gm-offline');
  } else if (state.failed) {
    const since = state.checkedAt ? `${isoDay(state.checkedAt)} ${clock(state.checkedAt)}` : '上次连接时';
    box.textContent = `连接中断，显示的是 ${since} 的数据`;
    box.classList.add('gm-stale');
  } else {
    box.textContent =
      '数据版本 ' +
      (state.revision === null ? '—' : state.revision) +
      ' · 更新于 ' +
      (state.checkedAt ? clock(state.checkedAt) : '—');
    box.classList.remove('gm-stale');
  }
  if (state.basemapError) {
    box.textContent += ` · ${state.basemapError}`;
  }
  const stale = state.failed && !state.package && state.checkedAt !== null;
  document.body.classList.toggle('gm-embed-stale', stale);
  const banner = $('gm-embed-banner');
  banner.hidden = !stale;
  if (stale) {
    fill(
      banner,
      `数据截至 ${isoDay(state.checkedAt)} ${clock(state.checkedAt)}（连接中断）`,
      el('small', null, '无法连接服务器，正在重试；恢复后自动更新')
    );
  }
}

/* The data moved on to revision rev: re-read the tiles at that revision (?v=rev: the server then
   never answers from an older one) and the figures. */
function applyRevision(rev) {
  const changed = rev !== state.revision;
  state.revision = rev;
  state.checkedAt = new Date();
  if (!changed) {
    return Promise.resolve();
  }
  ['area', 'outline', 'cameras', 'townships'].forEach((k) => {
    if (layers[k]) {
      layers[k] = refreshGrid(map, layers[k], rev);
    }
  });
  wire();
  labels.update();
  return Promise.all([loadSummary(), loadPanels()]);
}

/* Every `refresh` seconds: is the server there, and at which revision (the event stream brings
   changes within a second; this catches a stream that cannot get through). */
function refresh() {
  return fetch(url('healthz'), {cache: 'no-store'})
    .then((r) => r.json())
    .then((h) => {
      state.failed = h.status !== 'ok';
      if (!state.failed) {
        state.checkedAt = new Date();
        return applyRevision(h && h.revision !== undefined ? h.revision : null);
      }
    })
    .catch(() => {
      state.failed = true;
    })
    .then(renderStatus);
}

/* Offline: the page draws from a package (a URL, or a file the reader chooses) and asks the
   server nothing. */
function startPackage() {
  const box = $('gm-embed-status');
  box.textContent = packageParam === 'file' ? '请选择离线数据包' : '正在打开离线数据包…';
  const opened = packageParam === 'file' ? choosePackage(document.body) : openPackage(packageParam);
  return opened
    .then((pkg) => {
      state.package = pkg;
      state.revision = pkg.revision;
      labels.setSource(pkg.labels ? listLabelSource(pkg.labels) : null);
      state.summarySource = 'tiles';
      state.rankSource = 'tiles';
      const info = {
        area: pkg.info(levelKey),
        outline: pkg.info('county'),
        cameras: pkg.info('cameras'),
        townships: pkg.info('township')
      };
      if (shown('rank') && info.townships.missing) {
        note('gm-rank-note', '离线数据包中没有乡镇图层（导出时未包含）');
        info.townships = null;
      }
      fit(pkg.bounds);
      grids(info);
      renderStatus();
      if (info.area.missing) {
        box.textContent = `离线数据包中没有${levelName(level)}图层（导出时未包含）`;
        box.classList.add('gm-stale');
      }
      window.addEventListener(
        'resize',
        debounce(() => {
          fit(pkg.bounds);
        }, 300)
      );
      return loadSummary();
    })
    .catch((err) => {
      box.textContent = `无法打开离线数据包：${err && err.message ? err.message : '读取失败'}`;
      box.classList.add('gm-stale');
      state.failed = true;
      state.summary = page.summary ? {} : null; // nothing more will come: the page is idle
    });
}

function start() {
  setupPanels();
  if (packageParam) {
    return startPackage();
  }
  return fetchRevision()
    .then((rev) => {
      state.revision = rev;
      state.checkedAt = new Date();
      return probeScreen();
    })
    .then(() => {
      const townsFromTiles = shown('rank') && state.rankSource === 'tiles' && levelKey !== 'township';
      if (state.screen && state.screen.area.level > 0) {
        state.outlineKey = keyOfLevel(state.screen.area.level) || 'county';
      }
      return Promise.all([
        tileInfo(levelKey),
        tileInfo(state.outlineKey),
        page.cameras ? tileInfo('cameras') : null,
        townsFromTiles ? tileInfo('township') : null
      ]);
    })
    .then((infos) => {
      const info = {area: infos[0], outline: infos[1], cameras: infos[2] || {}, townships: infos[3]};
      if (info.area.error === 401 || info.area.error === 403) {
        $('gm-embed-status').textContent = '需要有效的令牌：请在地址中加上 token=嵌入令牌';
        $('gm-embed-status').classList.add('gm-stale');
      }
      // the area of the screen read (?area=, else the county), else the county's tiles
      const bounds = (state.screen && state.screen.area.bbox) || info.outline.bounds || info.area.bounds;
      fit(bounds);
      grids(info);
      renderStatus();
      if (state.areaMissing) {
        $('gm-embed-status').textContent = state.areaMissing;
        $('gm-embed-status').classList.add('gm-stale');
      }
      window.addEventListener(
        'resize',
        debounce(() => {
          fit(bounds);
        }, 300)
      );
      if (page.refresh > 0) {
        // refresh=0: a still picture
        setInterval(refresh, page.refresh * 1000);
        watchRevision(
          (rev) => {
            state.failed = false;
            applyRevision(rev).then(renderStatus);
          },
          {urlToken: true}
        );
      }
      return loadSummary(); // the screen read has filled the panels already
    })
    .catch(() => {
      state.failed = true;
      renderStatus();
    });
}

window.gm = {
  map: map,
  state: state,
  layers: layers,
  refresh: refresh,
  labels: labels,
  idle: () =>
    [layers.area, layers.outline, layers.cameras, layers.townships].every((g) => !g || !g.isLoading()) &&
    !labels.busy() &&
    !!state.summary === !!page.summary &&
    (!shown('rank') || state.rank !== null || $('gm-rank-note').textContent !== ''),
  started: start()
};
