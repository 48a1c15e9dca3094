/*
 * /map (一张图): areas of one level coloured by 上云率 or 安装率 from the vector tiles, cameras on
 * demand, a side panel with the current view's figures (/api/v1/summary) and the clicked area's
 * details and children (/api/v1/areas/{code}), and a search box (/api/v1/search).
 *
 * Besides the two rates, two views of this page only (classes from the page config, defined in
 * gridmap/maps/blind.py): 盲区 (no camera planned / planned but none installed / installed but
 * none online / covered) and 户/摄像头 (households per installed camera). The 盲区 card lists the
 * blind areas of the level (/api/v1/coverage/blind, most households first); the 打印与导出 card
 * prints the current view on one A4/A3 landscape page (the print stylesheet in gridmap.css scales
 * the map as it is on screen, so the printed view is the one on screen) and downloads the coverage
 * table and the blind list of the current area and level.
 *
 * The view is kept in the URL hash (#level=grid&metric=online_rate&area=…&cameras=1&basemap=…), so a view
 * can be bookmarked or sent. window.gm exposes the map and state for the page tests.
 *
 * Offline (?package=<URL of a .pmtiles> or ?package=file, or the package a screen bundle's config
 * names; see package.js): every level's tiles come from the package and nothing is asked of the
 * server. Levels, metrics, cameras, hover and click work on the tiles' own properties (name, code,
 * figures); the view's figures are summed from the tiles on screen; search, an area's children and
 * its grid worker need the server and say so (OFFLINE_NOTE); no revision watching.
 */

import {basemapChoices, basemapControl, CUSTOM, NONE, validChoice} from './basemap.js';
import {
  api,
  areaGrid,
  areaStyle,
  CAMERA_STATES,
  cameraState,
  cameraStyle,
  classCountNodes,
  classOfRate,
  config,
  debounce,
  distributionNodes,
  drawnBounds,
  el,
  fetchRevision,
  fill,
  gridAreas,
  hitTest,
  LEVELS,
  legendNodes,
  levelKey,
  levelName,
  levelOfKey,
  METRICS,
  NO_DATA,
  num,
  outlineStyle,
  pageToken,
  pct,
  RATE_CLASSES,
  rateClass,
  refreshGrid,
  restyle,
  sumFigures,
  TARGET,
  tileInfo,
  url,
  watchRevision
} from './common.js';
import {apiLabelSource, clusterLayer, labelLayer, listLabelSource} from './overlays.js';
import {choosePackage, openPackage, packageLabel, packageParam} from './package.js';
import {planLayer} from './plan-layer.js';

const $ = (id) => document.getElementById(id);
const CAMERA_MIN_ZOOM_DEFAULT = 12;
const OFFLINE_NOTE = '离线数据包：搜索和详情需要连接服务器';

const state = {
  level: 3,
  metric: 'online_rate',
  cameras: false,
  labels: true,
  selected: null,
  revision: null,
  tilesLoading: 0,
  pending: 0,
  viewSummary: null,
  area: null,
  tileInfo: {},
  package: null,
  basemap: null, // 'none', a basemap's id or {url} (basemap.js); from the hash, else remembered, else the default
  basemapShown: false
};
const layers = {area: null, outline: null, cameras: null, highlight: null};

/* ------------------------------------------------------------ views: the two rates, 盲区, 户/摄像头 */

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}
const BLIND_CLASSES = config.blindClasses;
const HOUSEHOLD_CLASSES = config.householdClasses; // the ratio classes, worst first, then no camera, unknown
const HPC_NO_CAMERA = HOUSEHOLD_CLASSES[HOUSEHOLD_CLASSES.length - 2];
const HPC_UNKNOWN = HOUSEHOLD_CLASSES[HOUSEHOLD_CLASSES.length - 1];
function byKey(list, key) {
  for (let i = 0; i < list.length; i++) {
    if (list[i].key === key) {
      return list[i];
    }
  }
  return null;
}
/* The blind class of an area's counts (as gridmap.maps.blind.blind_class). */
function blindClass(p) {
  if (p.online) {
    return byKey(BLIND_CLASSES, 'covered');
  }
  if (p.installed) {
    return byKey(BLIND_CLASSES, 'none_online');
  }
  return byKey(BLIND_CLASSES, p.planned ? 'not_installed' : 'no_plan');
}
function householdsPerCamera(p) {
  return p.installed && isNum(p.households) ? p.households / p.installed : null;
}
/* The 户/摄像头 class (exact on the integers, as gridmap.maps.blind.household_class). */
function householdClass(p) {
  if (!p.installed) {
    return HPC_NO_CAMERA;
  }
  if (!isNum(p.households)) {
    return HPC_UNKNOWN;
  }
  for (let i = 0; i < HOUSEHOLD_CLASSES.length - 2; i++) {
    const c = HOUSEHOLD_CLASSES[i];
    if (
      (c.lower === null || p.households >= c.lower * p.installed) &&
      (c.upper === null || p.households < c.upper * p.installed)
    ) {
      return c;
    }
  }
  return HPC_UNKNOWN;
}
function hpcText(p) {
  const v = householdsPerCamera(p);
  return v === null ? householdClass(p).label : `${v.toFixed(1)} 户`;
}

/* key → {key, label, formula, rate, classOf(props), classes (legend order), text(props), concern} */
const VIEWS = {};
Object.keys(METRICS).forEach((key) => {
  const m = METRICS[key];
  VIEWS[key] = {
    key: key,
    label: m.label,
    formula: m.formula,
    rate: true,
    classOf: (p) => rateClass(p, key),
    classes: RATE_CLASSES.slice()
      .reverse()
      .concat([NO_DATA])
      .map((c) => (c === NO_DATA ? {key: c.key, label: `${c.label}（${m.noData}）`, colour: c.colour} : c)),
    text: (p) => pct(p[key], 1)
  };
});
VIEWS.blind = {
  key: 'blind',
  label: '盲区',
  formula: '按规划 / 安装 / 在线',
  classOf: blindClass,
  classes: BLIND_CLASSES.map((c) => ({key: c.key, label: `${c.label}（${c.description}）`, colour: c.colour})),
  text: (p) => blindClass(p).label
};
VIEWS.households_per_camera = {
  key: 'households_per_camera',
  label: '户/摄像头',
  formula: '户数 / 已安装',
  classOf: householdClass,
  classes: HOUSEHOLD_CLASSES.slice(0, -2).reverse().concat(HOUSEHOLD_CLASSES.slice(-2)),
  text: hpcText
};

/* 视野覆盖: the share of each area the installed cameras' views cover (/api/v1/coverage/view for the
   level drawn, read when the view is chosen; gridmap.maps.view_classes), and 视野盲区: the unseen
   parts of the selected area (/api/v1/coverage/view/unseen, a township or below). Not 盲区 above. */
const VIEW_CLASSES = config.viewClasses; // worst first, then 未计算
const VIEW_NONE = VIEW_CLASSES[VIEW_CLASSES.length - 1];
const seen = {
  key: null,
  rates: null,
  abort: null,
  unseenKey: null,
  unseenAbort: null,
  unseen: null,
  // the selected area's own view row (its card), by `${code}|${revision}`
  cardKey: null,
  card: null,
  cardAbort: null
};
/* The selected area's view figures for its card (视野覆盖 shown): read once per area and revision;
   the card is drawn again when they arrive. */
function seenFacts(p) {
  if (state.metric !== 'view_coverage' || state.package || !p.code) {
    return [];
  }
  const key = `${p.code}|${state.revision}`;
  if (key !== seen.cardKey) {
    seen.cardKey = key;
    seen.card = null;
    if (seen.cardAbort) {
      seen.cardAbort.abort();
    }
    seen.cardAbort = new AbortController();
    api('api/v1/coverage/view', {params: {code: p.code}, signal: seen.cardAbort.signal})
      .then((data) => {
        const row = (data.rows || []).find((r) => r.code === p.code);
        if (seen.cardKey === key && row) {
          seen.card = row;
          if (state.area && state.area.properties && state.area.properties.code === p.code) {
            renderArea(state.area);
          }
        }
      })
      .catch((err) => {
        if (seen.cardKey === key && (!err || err.name !== 'AbortError')) {
          seen.card = {error: err.message || String(err)};
          if (state.area && state.area.properties && state.area.properties.code === p.code) {
            renderArea(state.area);
          }
        }
      });
  }
  const row = seen.card;
  if (!row) {
    return [['视野覆盖', '计算中…', 'gm-muted']];
  }
  if (row.error) {
    return [['视野覆盖', row.error, 'gm-muted']];
  }
  return [
    ['视野覆盖', `${pct(row.seen_rate)} · ${num(Math.round(row.seen_m2))} m²`],
    [
      '视野内户数',
      isNum(row.households_seen)
        ? `${num(Math.round(row.households_seen))} 户（${pct(row.households_seen_rate)}）`
        : '—'
    ]
  ];
}
function seenRate(p) {
  return seen.rates ? seen.rates.get(String(p.code)) : undefined;
}
function viewClass(p) {
  const r = seenRate(p);
  if (!isNum(r)) {
    return VIEW_NONE;
  }
  const v = r * 100;
  for (let i = 0; i < VIEW_CLASSES.length - 1; i++) {
    const c = VIEW_CLASSES[i];
    if ((c.lower === null || v >= c.lower) && (c.upper === null || v < c.upper)) {
      return c;
    }
  }
  return VIEW_NONE;
}
VIEWS.view_coverage = {
  key: 'view_coverage',
  label: '视野覆盖',
  formula: '摄像头视野覆盖面积 / 面积',
  classOf: viewClass,
  classes: VIEW_CLASSES.slice(0, -1).reverse().concat([VIEW_NONE]),
  text: (p) => (isNum(seenRate(p)) ? pct(seenRate(p), 2) : VIEW_NONE.label)
};

/* The fill of an area for a view: the rates' own style, the other views recolour it. */
function viewStyle(key) {
  if (METRICS[key]) {
    return areaStyle(key, 'light', state.basemapShown);
  }
  const base = areaStyle(Object.keys(METRICS)[0], 'light', state.basemapShown),
    v = VIEWS[key];
  return (props, zoom) => L.extend(base(props, zoom), {fillColor: v.classOf(props).colour});
}

/* Text on a colour: white or dark, whichever contrasts more (WCAG relative luminance). */
function luminance(hex) {
  const h = hex.replace('#', '');
  const c = [0, 2, 4].map((i) => {
    const x = parseInt(h.slice(i, i + 2), 16) / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function inkFor(hex) {
  const l = luminance(hex);
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? '#ffffff' : '#000000';
}

readHash();
/* The levels the live data has (a city without micro-grids offers no 微网格; every level for an
   offline package): the level buttons, and the level shown when the link asks for a missing one. */
const PRESENT = Array.isArray(config.page.levels)
  ? LEVELS.filter((lv) => config.page.levels.includes(lv.level))
  : LEVELS;
if (PRESENT.length && !PRESENT.some((lv) => lv.level === state.level)) {
  const above = PRESENT.filter((lv) => lv.level < state.level);
  state.level = (above.length ? above[above.length - 1] : PRESENT[0]).level;
}

const map = L.map('gm-map', {
  zoomSnap: 0.25,
  zoomDelta: 0.5,
  wheelPxPerZoomLevel: 90,
  minZoom: 4,
  maxZoom: 19,
  attributionControl: true,
  zoomControl: false,
  preferCanvas: true
});
map.attributionControl.setPrefix('gridmap');
L.control.zoom({position: 'bottomright', zoomInTitle: '放大', zoomOutTitle: '缩小'}).addTo(map);
L.control.scale({position: 'bottomright', imperial: false}).addTo(map);
[
  ['gm-areas', 400],
  ['gm-outline', 420],
  ['gm-highlight', 430],
  ['gm-cameras', 440]
].forEach((p) => {
  map.createPane(p[0]).style.zIndex = p[1];
  map.getPane(p[0]).style.pointerEvents = 'none';
});
map.setView([35, 105], 5);

/* Names of the areas (township names first, then deeper levels down to the one coloured, each
 * where it fits) and, below the camera tiles' zoom, camera clusters: HTML over the map (overlays.js). */
/* County names too when the map shows several counties (a city): set once they are counted. */
let firstLabelLevel = 1;
const labels = labelLayer(map, {
  levels: () => {
    if (!state.labels) {
      return [];
    }
    const out = [];
    for (let lv = firstLabelLevel; lv <= Math.max(1, state.level); lv++) {
      out.push(lv);
    }
    return out;
  },
  source: packageParam ? null : apiLabelSource(),
  revision: () => state.revision,
  // names keep clear of the camera clusters and of the controls over the map
  obstacles: () =>
    Array.prototype.slice.call(
      document.querySelectorAll('.gm-cluster, #gm-toolbar, #gm-legend, .leaflet-control-zoom, .leaflet-control-scale')
    ),
  zIndex: 450
});
const clusters = clusterLayer(map, {
  enabled: () => state.cameras && !state.package,
  maxZoom: () => (layers.cameras ? layers.cameras.options.minZoom : CAMERA_MIN_ZOOM_DEFAULT),
  revision: () => state.revision,
  colourOf: (share) => classOfRate(share).colour,
  inkOf: inkFor,
  onDraw: () => labels.update(),
  zIndex: 460
});

/* ------------------------------------------------------------ controls */

function segButton(_group, label, value, current, onPick, title) {
  const b = el(
    'button',
    {
      type: 'button',
      role: 'radio',
      className: 'gm-seg-btn',
      title: title || label,
      'aria-checked': String(value === current),
      dataset: {value: String(value)}
    },
    label
  );
  b.addEventListener('click', () => {
    onPick(value);
  });
  return b;
}
function syncSeg(group, current) {
  Array.prototype.forEach.call(group.querySelectorAll('.gm-seg-btn'), (b) => {
    b.setAttribute('aria-checked', String(b.dataset.value === String(current)));
  });
}
function radioKeys(group) {
  // arrow keys move between the radios of a group (ARIA radiogroup)
  group.addEventListener('keydown', (e) => {
    if (['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].indexOf(e.key) < 0) {
      return;
    }
    const buttons = Array.prototype.slice.call(group.querySelectorAll('.gm-seg-btn'));
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) {
      return;
    }
    const next =
      buttons[(i + (e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 1) + buttons.length) % buttons.length];
    next.focus();
    next.click();
    e.preventDefault();
  });
}

const levelGroup = $('gm-levels'),
  metricGroup = $('gm-metrics');
PRESENT.forEach((lv) => {
  levelGroup.appendChild(segButton(levelGroup, lv.name, lv.level, state.level, setLevel, `按${lv.name}着色`));
});
Object.keys(VIEWS).forEach((key) => {
  const m = VIEWS[key];
  metricGroup.appendChild(segButton(metricGroup, m.label, key, state.metric, setMetric, `${m.label}：${m.formula}`));
});
radioKeys(levelGroup);
radioKeys(metricGroup);
$('gm-cameras').checked = state.cameras;
$('gm-cameras').addEventListener('change', (e) => {
  setCameras(e.target.checked);
});
$('gm-labels').checked = state.labels;
$('gm-labels').addEventListener('change', (e) => {
  setLabels(e.target.checked);
});
$('gm-area-close').addEventListener('click', () => {
  clearSelection();
});

/* ------------------------------------------------------------ layers */

function loadTileInfo(layer) {
  const info = state.package ? Promise.resolve(state.package.info(layer)) : tileInfo(layer);
  return info.then((info) => {
    state.tileInfo[layer] = info;
    return info;
  });
}

function trackTiles(grid) {
  grid.on('tilefetcherror', () => {
    state.tileErrors = (state.tileErrors || 0) + 1;
  });
  grid.on('load', () => {
    if (grid === layers.area) {
      renderRank();
      if (state.package) {
        refreshSummary();
      }
    }
  });
  return grid;
}

function buildAreaLayers() {
  const level = state.level,
    key = levelKey(level);
  const parentKey = level >= 2 ? levelKey(level - 1) : null;
  return Promise.all([loadTileInfo(key), parentKey ? loadTileInfo(parentKey) : null]).then((infos) => {
    if (level !== state.level) {
      return;
    } // switched again meanwhile
    if (layers.area) {
      map.removeLayer(layers.area);
    }
    if (layers.outline) {
      map.removeLayer(layers.outline);
      layers.outline = null;
    }
    const info = infos[0];
    layers.area = trackTiles(
      areaGrid({
        layer: key,
        style: viewStyle(state.metric),
        pane: 'gm-areas',
        revision: state.revision,
        package: state.package,
        maxNativeZoom: info.maxzoom,
        minNativeZoom: info.minzoom,
        minZoom: Math.max(0, info.minzoom - 2)
      })
    ).addTo(map);
    if (parentKey) {
      const pinfo = infos[1];
      layers.outline = trackTiles(
        areaGrid({
          layer: parentKey,
          style: outlineStyle('light', level - 1),
          pane: 'gm-outline',
          revision: state.revision,
          package: state.package,
          maxNativeZoom: pinfo.maxzoom,
          minNativeZoom: pinfo.minzoom,
          minZoom: Math.max(0, pinfo.minzoom - 2)
        })
      ).addTo(map);
    }
    zoomNotice();
    if (info.error === 401 || info.error === 403) {
      notice('地图瓦片需要令牌：请在地址后加上 ?token=查看令牌。', true);
    }
    if (info.missing) {
      notice(`离线数据包中没有${levelName(level)}图层（导出时未包含）。`, true);
    }
  });
}

function buildCameraLayer() {
  if (layers.cameras) {
    map.removeLayer(layers.cameras);
    layers.cameras = null;
  }
  if (!state.cameras) {
    zoomNotice();
    return Promise.resolve();
  }
  return loadTileInfo('cameras').then((info) => {
    if (!state.cameras) {
      return;
    }
    if (layers.cameras) {
      map.removeLayer(layers.cameras);
    }
    const minzoom = info.error ? CAMERA_MIN_ZOOM_DEFAULT : info.minzoom;
    layers.cameras = trackTiles(
      areaGrid({
        layer: 'cameras',
        style: cameraStyle(),
        pane: 'gm-cameras',
        revision: state.revision,
        package: state.package,
        maxNativeZoom: info.maxzoom,
        minNativeZoom: minzoom,
        minZoom: minzoom,
        featureId: (f) => f.properties.device_id
      })
    ).addTo(map);
    zoomNotice();
  });
}

function zoomNotice() {
  const msgs = [];
  let clustered = false;
  const info = state.tileInfo[levelKey(state.level)];
  if (info && layers.area && map.getZoom() < layers.area.options.minZoom) {
    msgs.push(`${levelName(state.level)}在第 ${layers.area.options.minZoom} 级以上显示`);
  }
  if (state.cameras && layers.cameras && map.getZoom() < layers.cameras.options.minZoom) {
    if (state.package) {
      msgs.push(`摄像头在第 ${layers.cameras.options.minZoom} 级以上显示`);
    } else {
      clustered = true; // online, clusters stand in for the cameras below their zoom
    }
  }
  if (msgs.length) {
    notice(`${msgs.join('；')}，请放大地图。`);
  } else if (clustered) {
    notice(`摄像头在第 ${layers.cameras.options.minZoom} 级以下按位置聚合显示：点击聚合放大。`);
  } else {
    notice(null);
  }
}

let noticeTimer = null;
function notice(text, sticky) {
  const box = $('gm-notice');
  clearTimeout(noticeTimer);
  if (!text) {
    box.hidden = true;
    return;
  }
  box.textContent = text;
  box.hidden = false;
  if (!sticky) {
    noticeTimer = setTimeout(() => {
      box.hidden = true;
    }, 8000);
  }
}

/* ------------------------------------------------------------ basemap (basemap.js) */

const basemapCard = $('gm-basemap-card');
const basemapChoice = basemapControl(map, {
  container: basemapCard,
  initial: state.basemap,
  onError: (text) => {
    notice(text, true);
  },
  onChange: (choice, shown) => {
    state.basemap = choice;
    state.basemapShown = shown;
    document.body.classList.toggle('gm-with-basemap', shown);
    writeHash();
    if (layers.area) {
      restyle(layers.area, viewStyle(state.metric));
      markSelected();
    }
  }
});
// only 无底图 to choose from: no card
basemapCard.hidden = basemapCard.querySelectorAll('#gm-basemap option').length < 2;

/* ------------------------------------------------------------ state changes */

function setLevel(level) {
  if (level === state.level) {
    return;
  }
  state.level = level;
  syncSeg(levelGroup, level);
  writeHash();
  buildAreaLayers();
  refreshSummary();
  scopeChanged();
  labels.update();
}

/* The level or the selected area changed: the blind list, downloads and print line follow. */
function scopeChanged() {
  loadSeen();
  loadBlind();
  updateExports();
  printMeta();
}

function setMetric(metric) {
  if (metric === state.metric) {
    return;
  }
  state.metric = metric;
  syncSeg(metricGroup, metric);
  writeHash();
  if (layers.area) {
    restyle(layers.area, viewStyle(metric));
    markSelected();
  }
  renderLegend();
  renderRank();
  loadSeen();
  if (metric === 'blind') {
    openBlind(false);
  }
  if (state.area) {
    renderArea(state.area);
  }
  if (state.viewSummary) {
    renderSummary(state.viewSummary);
  }
}

function setCameras(on) {
  state.cameras = !!on;
  $('gm-cameras').checked = state.cameras;
  writeHash();
  renderLegend();
  buildCameraLayer().then(() => clusters.update());
}

function setLabels(on) {
  state.labels = !!on;
  $('gm-labels').checked = state.labels;
  writeHash();
  labels.update();
}

function renderLegend() {
  const v = VIEWS[state.metric];
  if (v.rate) {
    fill($('gm-legend'), legendNodes(state.metric, {cameras: state.cameras}));
  } else {
    // the rates' legend (for its camera part), its class list replaced by this view's
    const nodes = legendNodes(Object.keys(METRICS)[0], {cameras: state.cameras});
    nodes[0] = el(
      'div',
      {className: 'gm-legend-title'},
      v.label,
      el('span', {className: 'gm-legend-formula'}, `（${v.formula}）`)
    );
    nodes[1] = el(
      'ul',
      {className: 'gm-legend-list', 'aria-label': `${v.label}图例`},
      v.classes.map((c) =>
        el(
          'li',
          {className: 'gm-legend-row', dataset: {cls: c.key}},
          el('span', {className: 'gm-swatch', style: {background: c.colour}, 'aria-hidden': 'true'}),
          c.label
        )
      )
    );
    fill($('gm-legend'), nodes);
  }
  printMeta();
}

/* ------------------------------------------------------------ summary of the view */

let summaryAbort = null;
function refreshSummary() {
  state.summaryDue = true;
  fetchSummary();
}
const fetchSummary = debounce(() => {
  state.summaryDue = false;
  if (state.package) {
    summaryFromTiles();
    return;
  }
  if (summaryAbort) {
    summaryAbort.abort();
  }
  summaryAbort = new AbortController();
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(',');
  const level = state.level;
  state.pending++;
  api('api/v1/summary', {params: {level: level, bbox: bbox}, signal: summaryAbort.signal})
    .then((s) => {
      state.viewSummary = s;
      s._level = level;
      renderSummary(s);
    })
    .catch((err) => {
      if (err && err.name === 'AbortError') {
        return;
      }
      fill($('gm-view-kpis'), el('p', {className: 'gm-error'}, `无法读取视野汇总：${err.message || err}`));
      fill($('gm-view-facts'));
    })
    .then(() => {
      state.pending--;
    });
}, 300);

/* Offline: the figures of the areas on screen, summed from their tiles' properties (each area
   once; the rates recomputed from the sums). */
function summaryFromTiles() {
  const s = {...sumFigures(gridAreas(layers.area, map, map.getBounds())), _level: state.level};
  state.viewSummary = s;
  renderSummary(s);
}

function kpi(label, rate, sub) {
  const c = classOfRate(rate);
  return el(
    'div',
    {className: 'gm-kpi'},
    el('div', {className: 'gm-kpi-label'}, label),
    el('div', {className: 'gm-kpi-value'}, pct(rate)),
    el(
      'div',
      {className: 'gm-kpi-bar', 'aria-hidden': 'true'},
      el('span', {
        style: {width: `${typeof rate === 'number' ? Math.min(100, rate * 100) : 0}%`, background: c.colour}
      }),
      el('i', {style: {left: `${TARGET * 100}%`}})
    ),
    el('div', {className: 'gm-kpi-sub'}, sub)
  );
}
function facts(list, pairs) {
  fill(
    list,
    pairs.filter(Boolean).map((p) => [el('dt', null, p[0]), el('dd', {className: p[2] || null}, p[1])])
  );
}

function renderSummary(s) {
  const lvName = levelName(s._level !== undefined ? s._level : state.level);
  fill($('gm-view-title'), '当前视野', el('span', {className: 'gm-muted'}, ` · ${lvName} ${num(s.areas)} 个`));
  fill(
    $('gm-view-kpis'),
    kpi('上云率', s.online_rate, `在线 ${num(s.online)} / 已安装 ${num(s.installed)}`),
    kpi('安装率', s.rollout_rate, `已安装 ${num(s.installed)} / 计划 ${num(s.planned)}`)
  );
  facts($('gm-view-facts'), [
    ['计划摄像头', num(s.planned)],
    ['已安装', num(s.installed)],
    ['在线', num(s.online)],
    s.blind !== undefined && s.blind !== null
      ? [
          `无摄像头的${lvName}`,
          s.blind && !state.package
            ? el(
                'button',
                {
                  type: 'button',
                  id: 'gm-blind-open',
                  className: 'gm-linkbtn gm-blind-count',
                  title: `列出无摄像头的${lvName}（按户数排序）`,
                  onclick: () => {
                    openBlind(true);
                  }
                },
                num(s.blind)
              )
            : num(s.blind),
          s.blind ? 'gm-warn' : null
        ]
      : null
  ]);
}

/* ------------------------------------------------------------ classes and lowest areas on screen */

const LOW_COUNT = 8;
const renderRank = debounce(() => {
  const grid = layers.area;
  if (!grid) {
    return;
  }
  const m = VIEWS[state.metric],
    lvName = levelName(state.level);
  const areas = gridAreas(grid, map, map.getBounds());
  fill($('gm-rank-title'), '视野内分级', el('span', {className: 'gm-muted'}, ` · ${lvName}按${m.label}`));
  fill($('gm-rank-dist'), m.rate ? distributionNodes(areas, state.metric, ' 个') : viewDistribution(areas, m));
  const code = (a, b) => (a.code < b.code ? -1 : 1);
  let low, why;
  if (m.rate) {
    low = areas
      .filter((p) => {
        const r = p[state.metric];
        return rateClass(p, state.metric) !== NO_DATA && typeof r === 'number' && r < TARGET;
      })
      .sort((a, b) => a[state.metric] - b[state.metric] || code(a, b));
    why = `低于 ${Math.round(TARGET * 100)}% 的`;
  } else if (m.key === 'view_coverage') {
    low = areas
      .filter((p) => isNum(seenRate(p)) && seenRate(p) < 0.01)
      .sort((a, b) => (b.households || 0) - (a.households || 0) || code(a, b));
    why = '视野覆盖不足 1%、户数最多的';
  } else if (m.key === 'blind') {
    low = areas.filter((p) => !p.installed).sort((a, b) => (b.households || 0) - (a.households || 0) || code(a, b));
    why = '无摄像头、户数最多的';
  } else {
    const hpc = (p) => (p.installed ? householdsPerCamera(p) || 0 : Number.POSITIVE_INFINITY);
    low = areas
      .filter((p) => p.households && (!p.installed || householdsPerCamera(p) >= 100))
      .sort((a, b) => hpc(b) - hpc(a) || (b.households || 0) - (a.households || 0) || code(a, b));
    why = '每台摄像头 100 户以上或无摄像头的';
  }
  fill(
    $('gm-rank-low-title'),
    '需关注',
    el(
      'span',
      {className: 'gm-muted'},
      ` · ${why}${lvName} ${low.length} 个${low.length > LOW_COUNT ? `，前 ${LOW_COUNT} 个` : ''}`
    )
  );
  fill(
    $('gm-rank-low'),
    low.length
      ? low.slice(0, LOW_COUNT).map((p) =>
          el(
            'li',
            null,
            el(
              'button',
              {
                type: 'button',
                className: 'gm-child',
                dataset: {code: String(p.code)},
                onclick: () => {
                  select(String(p.code), {fly: true, focus: true});
                }
              },
              childLabel(p.name || String(p.code), String(p.code)),
              rateChip(p, state.metric)
            )
          )
        )
      : el(
          'li',
          {className: 'gm-muted'},
          areas.length ? `视野内没有低于目标的${lvName}。` : '放大或移动地图以查看区域。'
        )
  );
}, 250);

/* ------------------------------------------------------------ selected area */

let areaAbort = null;
function select(code, opts) {
  opts = opts || {};
  if (state.package) {
    return selectFromTiles(String(code), opts);
  }
  if (areaAbort) {
    areaAbort.abort();
  }
  areaAbort = new AbortController();
  state.selected = code;
  writeHash();
  state.pending++;
  return api(`api/v1/areas/${encodeURIComponent(code)}`, {signal: areaAbort.signal})
    .then((feature) => {
      state.area = feature;
      renderArea(feature);
      highlight(feature);
      scopeChanged();
      if (opts.fly) {
        flyToArea(feature);
      }
      if (opts.focus) {
        $('gm-area-name').focus();
      }
    })
    .catch((err) => {
      if (err && err.name === 'AbortError') {
        return;
      }
      notice(err.status === 404 ? `没有编码为 ${code} 的区域。` : `无法读取区域：${err.message || err}`);
    })
    .then(() => {
      state.pending--;
    });
}

/* Offline: the area's own tile properties (it must be drawn at the current level). */
function selectFromTiles(code, opts) {
  const props = layers.area ? layers.area.gmFeatures.get(code) : null;
  if (!props) {
    notice(`当前层级的已加载区域中没有编码为 ${code} 的区域（${OFFLINE_NOTE}）。`);
    return Promise.resolve();
  }
  state.selected = code;
  writeHash();
  const bounds = drawnBounds(layers.area, map, code);
  const feature = {
    properties: props,
    bbox: bounds ? [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()] : null
  };
  state.area = feature;
  renderArea(feature);
  markSelected();
  scopeChanged();
  if (opts.fly && feature.bbox) {
    flyToArea(feature);
  }
  if (opts.focus) {
    $('gm-area-name').focus();
  }
  return Promise.resolve();
}

/* Offline: the selected area outlined by its own tile style (no geometry from the API). */
let marked = null;
function markSelected() {
  if (!state.package || !layers.area) {
    return;
  }
  const grid = layers.area;
  if (marked && marked.grid === grid && marked.code !== state.selected && grid.gmFeatures.has(marked.code)) {
    grid.resetFeatureStyle(marked.code);
  }
  marked = null;
  if (state.selected && grid.gmFeatures.has(state.selected)) {
    grid.setFeatureStyle(state.selected, (props, zoom) =>
      L.extend({}, grid.gmStyle(props, zoom), {color: '#00e5ff', weight: 4, opacity: 1})
    );
    marked = {grid: grid, code: state.selected};
  }
}

function clearSelection() {
  state.selected = null;
  state.area = null;
  markSelected();
  $('gm-area').hidden = true;
  if (layers.highlight) {
    map.removeLayer(layers.highlight);
    layers.highlight = null;
  }
  writeHash();
  scopeChanged();
}

function flyToArea(feature) {
  const bb = feature.bbox || (feature.properties && feature.properties.bbox);
  const bounds = bb
    ? L.latLngBounds([bb[1], bb[0]], [bb[3], bb[2]])
    : layers.highlight
      ? layers.highlight.getBounds()
      : null;
  if (bounds && bounds.isValid()) {
    state.flying = true;
    map.once('moveend', () => {
      state.flying = false;
    });
    map.flyToBounds(bounds, {paddingTopLeft: [40, 90], paddingBottomRight: [40, 40], maxZoom: 17, duration: 0.8});
  }
}

function highlight(feature) {
  if (layers.highlight) {
    map.removeLayer(layers.highlight);
  }
  if (!feature.geometry) {
    layers.highlight = null;
    return;
  }
  // a dark halo under a cyan line: visible on every fill colour and on a basemap
  layers.highlight = L.featureGroup([
    L.geoJSON(feature, {
      pane: 'gm-highlight',
      interactive: false,
      style: {color: '#0b2239', weight: 7, opacity: 0.5, fill: false, lineJoin: 'round'}
    }),
    L.geoJSON(feature, {
      pane: 'gm-highlight',
      interactive: false,
      style: {color: '#00e5ff', weight: 3.5, opacity: 1, fill: false, lineJoin: 'round'}
    })
  ]).addTo(map);
}

function rateChip(props, metric) {
  const v = VIEWS[metric],
    c = v.classOf(props);
  return el(
    'span',
    {className: 'gm-chip', style: {background: c.colour, color: inkFor(c.colour)}, title: `${v.label}：${c.label}`},
    v.text(props)
  );
}

/* A list entry's name (wraps, never cut) above its code. */
function childLabel(name, code) {
  return el(
    'span',
    {className: 'gm-child-text'},
    el('span', {className: 'gm-child-name'}, name),
    el('code', {className: 'gm-child-code'}, code)
  );
}

/* The class counts of a non-rate view (the same DOM as the rate views: common.js classCountNodes). */
function viewDistribution(areas, v) {
  const counts = {};
  areas.forEach((p) => {
    const k = v.classOf(p).key;
    counts[k] = (counts[k] || 0) + 1;
  });
  const rows = v.classes.map((c) => ({cls: c, count: counts[c.key] || 0}));
  return classCountNodes(rows, areas.length, {unit: ' 个', short: true});
}

function renderArea(feature) {
  const p = feature.properties || {};
  const crumbs = (p.ancestors || []).map((a) =>
    el(
      'button',
      {
        type: 'button',
        className: 'gm-crumb',
        title: a.code,
        onclick: () => {
          select(a.code, {fly: true});
        }
      },
      a.name
    )
  );
  fill(
    $('gm-area-crumbs'),
    crumbs.length
      ? crumbs
      : el('span', {className: 'gm-muted'}, state.package ? '离线数据包' : p.level === 0 ? '顶级区域' : '')
  );
  $('gm-area-name').textContent = p.name || p.code;
  $('gm-area-name').setAttribute('tabindex', '-1');
  $('gm-area-level').textContent = p.level_name || levelName(p.level);
  $('gm-area-code').textContent = p.code;
  fill(
    $('gm-area-kpis'),
    kpi('上云率', p.online_rate, `在线 ${num(p.online)} / 已安装 ${num(p.installed)}`),
    kpi('安装率', p.rollout_rate, `已安装 ${num(p.installed)} / 计划 ${num(p.planned)}`)
  );
  const worker = p.worker_name ? p.worker_name + (p.worker_phone ? `（${p.worker_phone}）` : '') : '—';
  facts($('gm-area-facts'), [
    ...seenFacts(p), // first when the 视野覆盖 view is shown
    ['户数', num(p.households)],
    ['户/摄像头', hpcText(p)],
    ['盲区类别', blindClass(p).label, blindClass(p).blind ? 'gm-warn' : null],
    p.population !== undefined && p.population !== null ? ['人口', num(p.population)] : null,
    state.package ? null : ['网格员', worker],
    ['计划摄像头', num(p.planned)],
    ['已安装', num(p.installed)],
    ['在线', num(p.online)],
    p.camera_count !== undefined && p.camera_count !== null ? ['台账摄像头', num(p.camera_count)] : null,
    p.area_m2 ? ['面积', `${(p.area_m2 / 1e6).toFixed(2)} 平方公里`] : null
  ]);
  if (state.package) {
    fill($('gm-children-title'), '下级区域');
    fill($('gm-area-children'), el('li', {className: 'gm-muted gm-offline-note'}, OFFLINE_NOTE));
    $('gm-area').hidden = false;
    return;
  }
  const children = p.children || [];
  const childLevel = children.length ? children[0].level : null;
  fill(
    $('gm-children-title'),
    childLevel !== null ? `下级${levelName(childLevel)}` : '下级区域',
    el('span', {className: 'gm-muted'}, ` ${children.length} 个 · 按${VIEWS[state.metric].label}`)
  );
  fill(
    $('gm-area-children'),
    children.length
      ? children.map((c) => {
          const name = c.name || c.code;
          const shortName = shortInside(name, p.name);
          return el(
            'li',
            null,
            el(
              'button',
              {
                type: 'button',
                className: 'gm-child',
                dataset: {code: c.code},
                title: name,
                onclick: () => {
                  select(c.code, {fly: true, focus: true});
                }
              },
              childLabel(shortName, c.code),
              rateChip(c, state.metric)
            )
          );
        })
      : el('li', {className: 'gm-muted'}, '没有下级区域')
  );
  $('gm-area').hidden = false;
}

/* ------------------------------------------------------------ map clicks and hover */

function cameraAt(latlng) {
  return state.cameras && layers.cameras ? hitTest(layers.cameras, map, latlng, 6) : null;
}

map.on('click', (e) => {
  const cam = cameraAt(e.latlng);
  if (cam) {
    cameraPopup(e.latlng, cam.properties);
    return;
  }
  const hit = hitTest(layers.area, map, e.latlng);
  if (hit && hit.properties.code) {
    select(String(hit.properties.code));
  }
});

/* A name as written inside its parent: "杨店村第一网格3号微网格" under "杨店村第一网格" reads "3号微网格"
   (the server's label rows do the same: gridmap.db.labels short_name). */
function shortInside(name, parentName) {
  return parentName && name.indexOf(parentName) === 0 && name.length > parentName.length
    ? name.slice(parentName.length)
    : name;
}

/* The camera's leaf area by name: "杜庄村第一网格2号微网格（411628…）", its ancestors' names added
   when the server answers (offline: the code alone). A click flies there. */
function cameraPlace(code) {
  if (!code) {
    return '—';
  }
  const button = el(
    'button',
    {
      type: 'button',
      className: 'gm-linkbtn',
      onclick: () => {
        select(String(code), {fly: true});
      }
    },
    String(code)
  );
  if (!state.package) {
    api(`api/v1/areas/${encodeURIComponent(code)}`)
      .then((f) => {
        const p = f.properties || {};
        const names = (p.ancestors || []).map((a) => a.name || '').concat([p.name || '']);
        // each name short inside its parent: 郑家集乡 › 杜庄村 › 第一网格 › 1号微网格
        const chain = names
          .map((n, i) => (i > 0 ? shortInside(n, names[i - 1]) : n))
          .slice(1)
          .filter(Boolean);
        button.textContent = `${chain.join(' › ')}（${code}）`;
      })
      .catch(() => {});
  }
  return button;
}

function cameraPopup(latlng, c) {
  const hit = hitTest(layers.area, map, latlng);
  const place = cameraPlace(c.area_code);
  let stateKey = cameraState(c),
    label = '未知';
  CAMERA_STATES.forEach((s) => {
    if (s.key === stateKey) {
      label = s.label;
    }
  });
  const node = el(
    'div',
    {className: 'gm-camera-pop'},
    el('strong', null, c.name || '摄像头'),
    el(
      'dl',
      {className: 'gm-facts gm-facts-tight'},
      el('dt', null, '设备编码'),
      el('dd', null, el('code', null, c.device_id)),
      el('dt', null, '状态'),
      el('dd', null, label),
      el('dt', null, '运营商'),
      el('dd', null, c.operator || '—'),
      el('dt', null, '所属区域'),
      el('dd', null, place)
    ),
    // in a dense camera area the click meant the area as often as the camera
    hit && hit.properties.code
      ? el(
          'button',
          {
            type: 'button',
            className: 'gm-linkbtn gm-camera-area',
            onclick: () => {
              map.closePopup();
              select(String(hit.properties.code));
            }
          },
          `查看所在${levelName(state.level)}：${hit.properties.name || hit.properties.code}`
        )
      : null
  );
  L.popup({maxWidth: 320}).setLatLng(latlng).setContent(node).openOn(map);
}

let hoverFrame = null,
  hoverEvent = null;
map.on('mousemove', (e) => {
  hoverEvent = e;
  if (hoverFrame) {
    return;
  }
  hoverFrame = requestAnimationFrame(() => {
    hoverFrame = null;
    const ev = hoverEvent,
      box = $('gm-hover');
    const cam = cameraAt(ev.latlng);
    const hit = cam || hitTest(layers.area, map, ev.latlng);
    map.getContainer().style.cursor = hit ? 'pointer' : '';
    if (!hit) {
      box.hidden = true;
      return;
    }
    const p = hit.properties;
    if (cam) {
      const st = cameraState(p);
      fill(
        box,
        el('strong', null, p.name || p.device_id),
        el('span', null, st === 'online' ? '在线' : st === 'offline' ? '离线' : '规划中')
      );
    } else {
      fill(
        box,
        el('strong', null, p.name || p.code),
        el('span', null, `${VIEWS[state.metric].label} ${VIEWS[state.metric].text(p)}`)
      );
    }
    box.style.left = `${ev.containerPoint.x + 14}px`;
    box.style.top = `${ev.containerPoint.y + 14}px`;
    box.hidden = false;
  });
});
map.on('mouseout', () => {
  $('gm-hover').hidden = true;
});
map.on('zoomend', zoomNotice);
map.on('moveend', refreshSummary);
map.on('moveend', () => {
  renderRank();
});

/* ------------------------------------------------------------ search */

const search = {input: $('gm-search-input'), list: $('gm-search-list'), results: [], active: -1, abort: null};

function closeSearch() {
  search.list.hidden = true;
  search.input.setAttribute('aria-expanded', 'false');
  search.input.removeAttribute('aria-activedescendant');
  search.active = -1;
}
function setActive(i) {
  const items = search.list.querySelectorAll('[role=option]');
  search.active = i;
  Array.prototype.forEach.call(items, (item, j) => {
    item.setAttribute('aria-selected', String(j === i));
  });
  if (items[i]) {
    search.input.setAttribute('aria-activedescendant', items[i].id);
    items[i].scrollIntoView({block: 'nearest'});
  }
}
function choose(result) {
  closeSearch();
  search.input.value = result.name || result.code;
  if (typeof result.level === 'number' && result.level > state.level) {
    setLevel(result.level);
  }
  if (result.bbox) {
    flyToArea({bbox: result.bbox});
  }
  select(result.code, {fly: !result.bbox});
}
const runSearch = debounce(() => {
  const q = search.input.value.trim();
  if (search.abort) {
    search.abort.abort();
  }
  if (!q) {
    closeSearch();
    return;
  }
  search.abort = new AbortController();
  state.pending++;
  api('api/v1/search', {params: {q: q, limit: 10}, signal: search.abort.signal})
    .then((data) => {
      search.results = (data && data.results) || [];
      fill(
        search.list,
        search.results.length
          ? search.results.map((r, i) =>
              el(
                'li',
                {
                  id: `gm-search-opt-${i}`,
                  role: 'option',
                  className: 'gm-search-item',
                  'aria-selected': 'false',
                  dataset: {code: r.code},
                  onmousedown: (e) => {
                    e.preventDefault();
                    choose(r);
                  }
                },
                el('span', {className: 'gm-search-name'}, r.name || r.code),
                el('span', {className: 'gm-badge'}, r.level_name || levelName(r.level)),
                el('code', null, r.code)
              )
            )
          : el('li', {className: 'gm-search-empty', role: 'option', 'aria-disabled': 'true'}, `没有找到“${q}”`)
      );
      search.list.hidden = false;
      search.input.setAttribute('aria-expanded', 'true');
      search.active = -1;
    })
    .catch((err) => {
      if (err && err.name === 'AbortError') {
        return;
      }
      fill(search.list, el('li', {className: 'gm-search-empty'}, `搜索失败：${err.message || err}`));
      search.list.hidden = false;
    })
    .then(() => {
      state.pending--;
    });
}, 200);

search.input.addEventListener('input', runSearch);
search.input.addEventListener('keydown', (e) => {
  const n = search.results.length;
  if (e.key === 'ArrowDown' && n) {
    setActive((search.active + 1) % n);
    e.preventDefault();
  } else if (e.key === 'ArrowUp' && n) {
    setActive((search.active - 1 + n) % n);
    e.preventDefault();
  } else if (e.key === 'Enter') {
    e.preventDefault();
    if (search.active >= 0 && search.results[search.active]) {
      choose(search.results[search.active]);
    } else if (n && !search.list.hidden) {
      choose(search.results[0]);
    }
  } else if (e.key === 'Escape') {
    closeSearch();
  }
});
search.input.addEventListener('blur', () => {
  setTimeout(closeSearch, 150);
});

/* ------------------------------------------------------------ 视野覆盖 and 视野盲区 */

/* The seen shares of the level drawn (when the 视野覆盖 view is shown), and the unseen parts of the
   selected area (a township or below); both follow the level, the selection and the revision. */
function loadSeen() {
  const on = state.metric === 'view_coverage' && !state.package;
  // every area of the level in the selected area's county (one county is the server's unit)
  const sc = scope(),
    county = sc.code && sc.code.length >= 6 ? sc.code.slice(0, 6) : sc.code;
  const key = on ? `${state.level}|${county || ''}|${state.revision}` : null;
  if (key !== seen.key) {
    seen.key = key;
    if (seen.abort) {
      seen.abort.abort();
    }
    seen.abort = null;
    if (key) {
      seen.abort = new AbortController();
      state.pending++;
      api('api/v1/coverage/view', {params: {level: state.level, code: county || undefined}, signal: seen.abort.signal})
        .then((data) => {
          seen.rates = new Map(data.rows.map((r) => [r.code, r.seen_rate]));
          if (layers.area && state.metric === 'view_coverage') {
            restyle(layers.area, viewStyle(state.metric));
          }
          renderRank();
          if (state.area) {
            renderArea(state.area);
          }
        })
        .catch((err) => {
          if (!err || err.name !== 'AbortError') {
            notice(`无法读取视野覆盖：${err.message || err}`);
          }
        })
        .then(() => {
          state.pending--;
        });
    }
  }
  loadUnseen(on);
}

function loadUnseen(on) {
  const a = state.area && state.area.properties;
  const code = on && a && typeof a.level === 'number' && a.level >= 1 ? String(a.code) : null;
  const key = code ? `${code}|${state.revision}` : null;
  if (key === seen.unseenKey) {
    return;
  }
  seen.unseenKey = key;
  if (seen.unseenAbort) {
    seen.unseenAbort.abort();
  }
  if (seen.unseen) {
    map.removeLayer(seen.unseen);
    seen.unseen = null;
  }
  if (!code) {
    return;
  }
  seen.unseenAbort = new AbortController();
  state.pending++;
  api('api/v1/coverage/view/unseen', {params: {code: code}, signal: seen.unseenAbort.signal})
    .then((data) => {
      const colour = config.unseenColour;
      seen.unseen = L.geoJSON(data, {
        pane: 'gm-outline',
        interactive: false,
        style: {color: colour, weight: 0.6, fillColor: colour, fillOpacity: 0.35}
      }).addTo(map);
      notice(`视野盲区：${a.name || code} 未被摄像头视野覆盖 ${num(Math.round(data.unseen_m2))} m²`);
    })
    .catch((err) => {
      if (!err || err.name !== 'AbortError') {
        notice(`无法读取视野盲区：${err.message || err}`);
      }
    })
    .then(() => {
      state.pending--;
    });
}

/* ------------------------------------------------------------ 盲区 list */

/* The scope of the lists and downloads: the selected area when it is above the level drawn (its
   areas of that level), else every area of the level. */
function scope() {
  const a = state.area && state.area.properties;
  const inside = a && a.code && typeof a.level === 'number' && a.level < state.level;
  return {
    code: inside ? String(a.code) : null,
    level: state.level,
    name: inside ? a.name || String(a.code) : $('gm-county-name').textContent || '全部'
  };
}

const blind = {key: null, abort: null, data: null};
const BLIND_SHOWN = 300;

function openBlind(focus) {
  $('gm-blind').hidden = false;
  loadBlind();
  if (focus) {
    // scroll the side panel only (scrollIntoView would also scroll the page under the header)
    const side = $('gm-side');
    side.scrollTop = $('gm-blind').offsetTop - side.offsetTop - 8;
    $('gm-blind-title').focus({preventScroll: true});
  }
}
function closeBlind() {
  $('gm-blind').hidden = true;
}

function loadBlind() {
  if ($('gm-blind').hidden) {
    return;
  }
  if (state.package) {
    fill($('gm-blind-note'), OFFLINE_NOTE);
    fill($('gm-blind-list'));
    return;
  }
  const sc = scope();
  const key = [sc.level, sc.code || '', state.revision].join('|');
  if (key === blind.key) {
    return;
  }
  blind.key = key;
  if (blind.abort) {
    blind.abort.abort();
  }
  blind.abort = new AbortController();
  fill($('gm-blind-note'), '正在读取…');
  state.pending++;
  api('api/v1/coverage/blind', {
    params: {level: sc.level, code: sc.code, sort: 'households'},
    signal: blind.abort.signal
  })
    .then((data) => {
      blind.data = data;
      renderBlind(data, sc);
    })
    .catch((err) => {
      if (err && err.name === 'AbortError') {
        return;
      }
      blind.key = null;
      fill($('gm-blind-note'), el('span', {className: 'gm-error'}, `无法读取盲区名单：${err.message || err}`));
    })
    .then(() => {
      state.pending--;
    });
}

function renderBlind(data, sc) {
  const lvName = levelName(data.level),
    rows = data.rows || [],
    classes = data.classes || {};
  fill($('gm-blind-title'), `无摄像头的${lvName}`, el('span', {className: 'gm-muted'}, ` ${num(rows.length)} 个`));
  fill(
    $('gm-blind-note'),
    `${sc.name}共 ${num(data.total)} 个${lvName}，其中未规划 ${num(classes.no_plan)} 个、` +
      `规划未安装 ${num(classes.not_installed)} 个；按户数从多到少。` +
      (rows.length > BLIND_SHOWN ? `列出前 ${BLIND_SHOWN} 个，完整名单请下载。` : '')
  );
  fill(
    $('gm-blind-list'),
    rows.length
      ? rows.slice(0, BLIND_SHOWN).map((r) => {
          const c = blindClass(r),
            name = r.name || r.code;
          return el(
            'li',
            null,
            el(
              'button',
              {
                type: 'button',
                className: 'gm-child gm-blind-item',
                dataset: {code: r.code, cls: c.key},
                title: `${name}（${r.code}）：${c.description}`,
                onclick: () => {
                  select(r.code, {fly: true, focus: true});
                }
              },
              childLabel(name, r.code),
              el(
                'span',
                {className: 'gm-blind-figs'},
                el('b', {className: 'gm-blind-hh'}, r.households === null ? '户数未知' : `${num(r.households)} 户`),
                el('span', {className: 'gm-chip', style: {background: c.colour, color: inkFor(c.colour)}}, c.label)
              )
            )
          );
        })
      : el('li', {className: 'gm-muted'}, `没有无摄像头的${lvName}。`)
  );
}

/* ------------------------------------------------------------ print and export */

/* The download links: the coverage table (XLSX) and the blind list (XLSX, CSV) of the scope. */
function updateExports() {
  const off = !!state.package;
  ['gm-dl-coverage', 'gm-dl-blind-xlsx', 'gm-dl-blind-csv'].forEach((id) => {
    $(id).hidden = off;
  });
  if (off) {
    fill($('gm-export-scope'), `下载：${OFFLINE_NOTE}`);
    return;
  }
  const sc = scope(),
    where = {level: sc.level, code: sc.code};
  $('gm-dl-coverage').href = url('api/v1/coverage', L.extend({format: 'xlsx'}, where));
  $('gm-dl-blind-xlsx').href = url('api/v1/coverage/blind', L.extend({format: 'xlsx', sort: 'households'}, where));
  $('gm-dl-blind-csv').href = url('api/v1/coverage/blind', L.extend({format: 'csv', sort: 'households'}, where));
  fill($('gm-export-scope'), `下载范围：${sc.name} · 全部${levelName(sc.level)}`);
}

/* Print: one landscape page (A4 or A3, 8 mm margins); the map keeps its screen size and view and
   is scaled to fit beside the figures column (gridmap.css, @media print). */
const PAPERS = {A4: [297, 210], A3: [420, 297]};
const PRINT_MARGIN_MM = 8,
  PX_PER_MM = 96 / 25.4;
const pageRule = el('style', {id: 'gm-page-rule'});
document.head.appendChild(pageRule);
state.paper = 'A4';

function printLayout() {
  const size = map.getSize(),
    paper = PAPERS[state.paper];
  const w = (paper[0] - 2 * PRINT_MARGIN_MM) * PX_PER_MM,
    h = (paper[1] - 2 * PRINT_MARGIN_MM) * PX_PER_MM;
  const side = state.paper === 'A3' ? 400 : 300,
    head = 70;
  const scale = Math.min((w - side - 16) / Math.max(1, size.x), (h - head) / Math.max(1, size.y));
  const root = document.documentElement.style;
  root.setProperty('--gm-map-w', `${size.x}px`);
  root.setProperty('--gm-map-h', `${size.y}px`);
  root.setProperty('--gm-print-scale', scale.toFixed(4));
  root.setProperty('--gm-paper-w', `${Math.floor(w)}px`);
  root.setProperty('--gm-paper-h', `${Math.floor(h)}px`);
  root.setProperty('--gm-print-side', `${side}px`);
  pageRule.textContent = `@page { size: ${state.paper} landscape; margin: ${PRINT_MARGIN_MM}mm; }`;
}

function printMeta() {
  const d = new Date(),
    two = (n) => String(n).padStart(2, '0');
  const when = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
  const a = state.area && state.area.properties;
  fill(
    $('gm-print-meta'),
    [
      `${levelName(state.level)} · ${VIEWS[state.metric].label}`,
      a ? `选中：${a.name || a.code}` : null,
      `数据版本 ${state.revision === null ? '—' : state.revision}`,
      `制图时间 ${when}`
    ]
      .filter(Boolean)
      .join(' · ')
  );
}

map.on('resize', printLayout);
window.addEventListener('beforeprint', () => {
  printLayout();
  printMeta();
});
$('gm-print').addEventListener('click', () => {
  printLayout();
  printMeta();
  window.print();
});
$('gm-paper').addEventListener('change', (e) => {
  state.paper = PAPERS[e.target.value] ? e.target.value : 'A4';
  printLayout();
});
$('gm-blind-close').addEventListener('click', closeBlind);

/* With ?token= the API wants the token in a header, which a link cannot send: fetch the file and
   hand it over as a blob (named as the server names it). */
['gm-dl-coverage', 'gm-dl-blind-xlsx', 'gm-dl-blind-csv'].forEach((id) => {
  $(id).addEventListener('click', (e) => {
    if (!pageToken) {
      return;
    }
    e.preventDefault();
    fetch(e.currentTarget.href, {headers: {Authorization: `Bearer ${pageToken}`}})
      .then((r) => {
        if (!r.ok) {
          throw new Error(`HTTP ${r.status}`);
        }
        const m = /filename="([^"]+)"/.exec(r.headers.get('Content-Disposition') || '');
        return r.blob().then((b) => [b, m ? m[1] : 'gridmap-download']);
      })
      .then((got) => {
        const href = URL.createObjectURL(got[0]);
        el('a', {href: href, download: got[1]}).click();
        setTimeout(() => {
          URL.revokeObjectURL(href);
        }, 5000);
      })
      .catch((err) => {
        notice(`下载失败：${err.message || err}`);
      });
  });
});

/* ------------------------------------------------------------ URL hash */

function readHash() {
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const lv = levelOfKey(h.get('level'));
  if (lv !== null) {
    state.level = lv;
  }
  if (VIEWS[h.get('metric')]) {
    state.metric = h.get('metric');
  }
  state.cameras = h.get('cameras') === '1';
  state.labels = h.get('labels') !== '0';
  state.selected = h.get('area') || null;
  const b = h.get('basemap') === CUSTOM ? {url: h.get('tiles') || ''} : h.get('basemap');
  state.basemap = b && validChoice(b) ? b : null;
}
function writeHash() {
  const parts = [`level=${levelKey(state.level)}`, `metric=${state.metric}`];
  if (state.cameras) {
    parts.push('cameras=1');
  }
  if (!state.labels) {
    parts.push('labels=0');
  }
  if (state.selected) {
    parts.push(`area=${encodeURIComponent(state.selected)}`);
  }
  if (state.basemap && typeof state.basemap === 'object') {
    parts.push(`basemap=${CUSTOM}`, `tiles=${encodeURIComponent(state.basemap.url)}`);
  } else if (state.basemap && (state.basemap !== NONE || basemapChoices().default !== NONE)) {
    parts.push(`basemap=${encodeURIComponent(state.basemap)}`); // none only when the default is another
  }
  history.replaceState(null, '', `${location.pathname + location.search}#${parts.join('&')}`);
}

/* ------------------------------------------------------------ data revision */

function applyRevision(rev) {
  const changed = state.revision !== null && rev !== null && rev !== state.revision;
  state.revision = rev;
  $('gm-revision').textContent = rev === null ? '—' : String(rev);
  if (!changed) {
    return;
  }
  loadBlind();
  loadSeen();
  ['area', 'outline', 'cameras'].forEach((k) => {
    if (layers[k]) {
      layers[k] = trackTiles(refreshGrid(map, layers[k], rev));
    }
  });
  refreshSummary();
  labels.update();
  clusters.update();
  if (state.selected) {
    select(state.selected);
  }
}
if (!packageParam) {
  setInterval(() => {
    fetchRevision().then(applyRevision);
  }, 60000);
  watchRevision(applyRevision, {urlToken: !!pageToken});
}

/* ------------------------------------------------------------ start */

/* Offline: open the package (a URL, or a file the reader chooses), then draw from it alone. */
function startPackage() {
  search.input.disabled = true;
  search.input.placeholder = OFFLINE_NOTE;
  search.input.title = OFFLINE_NOTE;
  $('gm-link-upload').hidden = true;
  $('gm-link-docs').hidden = true;
  const foot = document.querySelector('.gm-side-foot');
  foot.textContent = packageParam === 'file' ? '请选择离线数据包' : '正在打开离线数据包…';
  const opened =
    packageParam === 'file' ? choosePackage(document.querySelector('.gm-mapwrap')) : openPackage(packageParam);
  return opened
    .then((pkg) => {
      state.package = pkg;
      state.revision = pkg.revision;
      labels.setSource(pkg.labels ? listLabelSource(pkg.labels) : null);
      updateExports();
      foot.textContent = `${packageLabel(pkg)} · 离线画面，不随实时数据更新`;
      foot.classList.add('gm-offline');
      const county = (pkg.name || '').replace(/^gridmap\s*/, '');
      if (county) {
        $('gm-county-name').textContent = county;
        document.title = `${county} · 网格化视频监控一张图`;
      }
      const b = pkg.bounds;
      map.fitBounds(
        [
          [b[1], b[0]],
          [b[3], b[2]]
        ],
        {padding: [20, 20]}
      );
      return Promise.all([buildAreaLayers(), buildCameraLayer()]);
    })
    .then(() => {
      refreshSummary();
      if (state.selected) {
        const code = state.selected;
        state.selected = null;
        layers.area.once('load', () => {
          select(code);
        });
      }
      state.started = true;
    })
    .catch((err) => {
      foot.textContent = `无法打开离线数据包：${err && err.message ? err.message : '读取失败'}`;
      foot.classList.add('gm-stale');
      state.failed = true;
    });
}

function start() {
  renderLegend();
  writeHash();
  printLayout();
  updateExports();
  if (state.metric === 'blind') {
    openBlind(false);
  }
  if (packageParam) {
    return startPackage();
  }
  loadSeen();
  const title = (name) => {
    $('gm-county-name').textContent = name;
    document.title = `${name} · 网格化视频监控一张图`;
  };
  /* The title names what the map adds up to: the one county, else the city (or province) all
     the counties lie in (their parents are the derived city rows). */
  const county = api('api/v1/areas', {params: {level: 0, geometry: 'none', limit: 1000}})
    .then((fc) => {
      const counties = (fc && fc.features) || [];
      if (counties.length === 1) {
        title(counties[0].properties.name || counties[0].properties.code);
        return null;
      }
      if (counties.length > 1) {
        firstLabelLevel = 0;
        labels.update();
      }
      const parents = new Set(counties.map((f) => String(f.properties.parent_code || '')));
      const first = [...parents][0] || '';
      const region = parents.size === 1 ? first : first.slice(0, 2);
      return region
        ? api(`api/v1/areas/${region}`, {params: {geometry: 'none'}}).then((a) => {
            const p = (a && a.properties) || {};
            if (p.name) {
              title(p.name);
            }
          })
        : null;
    })
    .catch((err) => {
      if (err.status === 401 || err.status === 403) {
        notice(err.message, true);
      }
    });
  return fetchRevision()
    .then((rev) => {
      applyRevision(rev);
      return loadTileInfo('county');
    })
    .then((info) => {
      const b = info && info.bounds;
      if (b && b.length === 4) {
        map.fitBounds(
          [
            [b[1], b[0]],
            [b[3], b[2]]
          ],
          {padding: [20, 20]}
        );
      }
      return Promise.all([buildAreaLayers(), buildCameraLayer(), county]);
    })
    .then(() => {
      refreshSummary();
      if (state.selected) {
        select(state.selected, {fly: true});
      }
      state.started = true;
    });
}

/* For the page tests and the browser console. */
/* 布点规划: a camera placement plan opened from a file or computed (plan-layer.js), for the county
   of the selected area (none selected: the server's only county). */
const plan = planLayer(map, $('gm-plan'), {
  county: () => {
    const a = state.area && state.area.properties;
    return a && a.code && String(a.code).length >= 6 ? String(a.code).slice(0, 6) : null;
  }
});

window.gm = {
  plan: plan,
  map: map,
  basemap: basemapChoice,
  state: state,
  layers: layers,
  select: select,
  setLevel: setLevel,
  setMetric: setMetric,
  setCameras: setCameras,
  openBlind: openBlind,
  blindClass: blindClass,
  householdClass: householdClass,
  viewClass: viewClass,
  seen: seen,
  printLayout: printLayout,
  labels: labels,
  clusters: clusters,
  hitTest: (lat, lng) => {
    const hit = hitTest(layers.area, map, L.latLng(lat, lng));
    return hit ? hit.properties : null;
  },
  /* true when no tile layer is loading and no API request is pending */
  idle: () => {
    const busy = [layers.area, layers.outline, layers.cameras].some((g) => g && map.hasLayer(g) && g.isLoading());
    return (
      state.started &&
      !busy &&
      !labels.busy() &&
      !clusters.busy() &&
      !state.summaryDue &&
      state.pending === 0 &&
      !map._animatingZoom &&
      !(map._panAnim && map._panAnim._inProgress) &&
      !state.flying
    );
  },
  started: start()
};
