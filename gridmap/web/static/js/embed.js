/*
 * /embed: a full-screen map for big screens and iframes. No controls and no interaction; the
 * areas of one level coloured by one metric, the county outline, a legend, the county's figures
 * and a status line. It follows the data revision on the server's event stream (/events/revision,
 * at most one reload a second) and, every `refresh` seconds, on /healthz; when it moved, it reloads
 * its tiles (URLs carry ?v=<revision>: the server never answers them from an older revision) and
 * its figures.
 *
 * The page's ?token= (an embed token is enough) is passed to every tile request in the URL.
 * Figures come from /api/v1/summary when reading is open (no token), else they are summed from
 * the tiles' own planned / installed / online properties (the same numbers: an embed token may
 * read tiles but not the JSON API).
 *
 * Offline (?package=<URL of a .pmtiles> or ?package=file, see package.js): the tiles come from the
 * package, the figures are summed from them, and nothing is asked of the server (no /tiles,
 * /healthz, event stream or API): the status line names the package, its data revision and when it
 * was exported, and says the picture does not follow live data.
 */
import {
  addBasemap,
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
  legendNodes,
  levelName,
  levelOfKey,
  METRICS,
  NO_DATA,
  num,
  pageToken,
  pct,
  rateClass,
  refreshGrid,
  TARGET,
  tileInfo,
  url,
  watchRevision
} from './common.js';
import {choosePackage, openPackage, packageLabel, packageParam} from './package.js';

const $ = (id) => document.getElementById(id);
const page = config.page;
const theme = page.theme === 'light' ? 'light' : 'dark';
const levelKey = page.layer,
  level = levelOfKey(levelKey),
  metric = page.metric;
document.body.classList.add(`gm-embed-${theme}`);

const state = {
  revision: null,
  summary: null,
  summarySource: null,
  checkedAt: null,
  failed: false,
  fitted: false,
  package: null
};
const layers = {area: null, outline: null, cameras: null};

const map = L.map('gm-map', {
  zoomControl: false,
  attributionControl: !!config.basemap,
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
addBasemap(map);

const m = METRICS[metric];
$('gm-embed-heading').textContent = ` · ${levelName(level)}${m.label}`;
$('gm-embed-subtitle').textContent =
  m.formula + (packageParam ? ' · 离线数据包' : page.refresh ? ' · 实时更新' : ' · 静态画面');
fill($('gm-embed-legend'), legendNodes(metric, {cameras: page.cameras}));

function grids(info) {
  ['area', 'outline', 'cameras'].forEach((k) => {
    if (layers[k]) {
      map.removeLayer(layers[k]);
      layers[k] = null;
    }
  });
  const i = info.area,
    o = info.outline;
  layers.area = areaGrid({
    layer: levelKey,
    style: areaStyle(metric, theme),
    pane: 'gm-areas',
    urlToken: true,
    revision: state.revision,
    package: state.package,
    maxNativeZoom: i.maxzoom,
    minNativeZoom: i.minzoom
  }).addTo(map);
  if (levelKey !== 'county') {
    layers.outline = areaGrid({
      layer: 'county',
      pane: 'gm-outline',
      urlToken: true,
      revision: state.revision,
      package: state.package,
      maxNativeZoom: o.maxzoom,
      minNativeZoom: o.minzoom,
      style: () => ({
        fill: false,
        stroke: true,
        weight: 3,
        color: theme === 'dark' ? '#5cc8ff' : '#0f2540',
        opacity: 0.95
      })
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
}

/* How many areas are in each class (every area of the county is on screen and loaded). */
function renderDistribution() {
  if (!page.summary) {
    return;
  }
  const areas = featuresOf(layers.area);
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
  if (list.length === 1) {
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
    {paddingTopLeft: [40, 110], paddingBottomRight: [40, 40], animate: false}
  );
  state.fitted = true;
}

/* ------------------------------------------------------------ figures */

/* Class colours as text on the dark theme (the two darkest classes lightened for contrast). */
const DARK_TEXT = {ge98: '#5cb6ff', lt80: '#ff6161'};

function renderSummary(s) {
  state.summary = s;
  const box = $('gm-embed-stats');
  function stat(label, value, sub, cls) {
    return el(
      'div',
      {className: 'gm-stat'},
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
    stat(
      '上云率',
      pct(s.online_rate),
      `在线 ${num(s.online)} / 已安装 ${num(s.installed)}`,
      classOfRate(s.online_rate)
    ),
    stat(
      '安装率',
      pct(s.rollout_rate),
      `已安装 ${num(s.installed)} / 计划 ${num(s.planned)}`,
      classOfRate(s.rollout_rate)
    ),
    stat(
      `${levelName(level)}数`,
      num(s.areas),
      s.blind !== undefined && s.blind !== null ? `无摄像头 ${num(s.blind)}` : null
    )
  );
  box.hidden = !page.summary;
}

/* The county's figures summed from the loaded tiles: each area once (featuresOf: tiles repeat
   the areas that cross their edges), the counts summed, the rates recomputed from the sums. */
function summaryFromTiles() {
  const s = {areas: 0, planned: 0, installed: 0, online: 0, blind: 0};
  featuresOf(layers.area).forEach((p) => {
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
  renderSummary(s);
}

/* Figures: from /api/v1/summary when the page has no token (reading is open); with a token
   (usually an embed token, which may read tiles only) summed from the tiles. */
function loadSummary() {
  if (!page.summary) {
    return Promise.resolve();
  }
  if (pageToken) {
    state.summarySource = 'tiles';
  }
  if (state.summarySource === 'tiles') {
    if (layers.area && !layers.area.isLoading()) {
      summaryFromTiles();
    } // else when the tiles are loaded
    return Promise.resolve();
  }
  return api('api/v1/summary', {params: {level: level}, cache: 'no-store'})
    .then((s) => {
      state.summarySource = 'api';
      renderSummary(s);
    })
    .catch((err) => {
      if (err.status === 401 || err.status === 403) {
        state.summarySource = 'tiles';
        return loadSummary();
      }
      throw err;
    });
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
    box.textContent = `连接中断，显示的是 ${state.checkedAt ? clock(state.checkedAt) : '上次'} 的数据`;
    box.classList.add('gm-stale');
  } else {
    box.textContent =
      '数据版本 ' +
      (state.revision === null ? '—' : state.revision) +
      ' · 更新于 ' +
      (state.checkedAt ? clock(state.checkedAt) : '—');
    box.classList.remove('gm-stale');
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
  ['area', 'outline', 'cameras'].forEach((k) => {
    if (layers[k]) {
      layers[k] = refreshGrid(map, layers[k], rev);
    }
  });
  wire();
  return loadSummary();
}

/* Every `refresh` seconds: is the server there, and at which revision (the event stream brings
   changes within a second; this catches a stream that cannot get through). */
function refresh() {
  return fetch(url('healthz'), {cache: 'no-store'})
    .then((r) => r.json())
    .then((h) => {
      state.failed = h.status !== 'ok';
      if (!state.failed) {
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
      state.summarySource = 'tiles';
      const info = {area: pkg.info(levelKey), outline: pkg.info('county'), cameras: pkg.info('cameras')};
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
  if (packageParam) {
    return startPackage();
  }
  const need = [tileInfo(levelKey), tileInfo('county'), page.cameras ? tileInfo('cameras') : null];
  return fetchRevision()
    .then((rev) => {
      state.revision = rev;
      state.checkedAt = new Date();
      return Promise.all(need);
    })
    .then((infos) => {
      const info = {area: infos[0], outline: infos[1], cameras: infos[2] || {}};
      if (info.area.error === 401 || info.area.error === 403) {
        $('gm-embed-status').textContent = '需要有效的令牌：请在地址中加上 token=嵌入令牌';
        $('gm-embed-status').classList.add('gm-stale');
      }
      fit(info.outline.bounds || info.area.bounds);
      grids(info);
      renderStatus();
      window.addEventListener(
        'resize',
        debounce(() => {
          fit(info.outline.bounds || info.area.bounds);
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
      return loadSummary();
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
  idle: () =>
    [layers.area, layers.outline, layers.cameras].every((g) => !g || !g.isLoading()) &&
    !!state.summary === !!page.summary,
  started: start()
};
