/*
 * /map's 布点规划 layer (issue 18): a camera placement plan drawn over the map and exported again.
 *
 * - 打开规划文件: a plan as `gridmap plan cameras --format geojson` (or POST /api/v1/plan with
 *   Accept: application/geo+json) writes it: a FeatureCollection of points with the totals as the
 *   foreign member `plan`; or the JSON answer (`sites`, totals). Anything else is refused with a
 *   Chinese message and nothing is drawn.
 * - 计算: POST /api/v1/plan for the county of the selected area (none selected: the server's only
 *   county) with an editor's token typed into the card (kept in sessionStorage only, never in the
 *   URL or localStorage); a refusal shows the server's Chinese message.
 * - 导出 GeoJSON / CSV: the plan shown, GeoJSON as gridmap.services.plan.plan_geojson writes it, CSV
 *   with the Chinese headers of gridmap.services.plan.COLUMNS and a UTF-8 BOM (Excel opens it).
 *
 * Each site: a marker and its view sector (angle and range of its kind from the page config,
 * `viewKinds`: GRIDMAP_VIEW_KINDS over gridmap.config.VIEW_KIND_DEFAULTS); bearing in degrees
 * clockwise from north, coordinates EPSG:4490 lon/lat (drawn as WGS 84: they differ by centimetres).
 */

import {api, config, el, fill, num} from './common.js';

const TOKEN_KEY = 'gridmap.planToken';
const MAX_FILE_MB = 50;
const SITE_COLOUR = '#7b2cbf';
/* The CSV columns: (key of a flattened site, header), as gridmap.services.plan.COLUMNS. */
const COLUMNS = [
  ['rank', '序号'],
  ['lon', '经度'],
  ['lat', '纬度'],
  ['grid_code', '网格编码'],
  ['direction', '朝向'],
  ['bearing_deg', '方位角（度，正北顺时针）'],
  ['kind_name', '类型'],
  ['households_newly_seen', '新增可见户数'],
  ['area_newly_seen_m2', '新增可见面积（平方米）'],
  ['source_name', '来源'],
  ['device_id', '设备编码']
];
const SOURCE_NAMES = {auto: '自动候选', planned: '已规划未安装', file: '候选文件'};
const GEO_CRS = ['urn:ogc:def:crs:EPSG::4490', 'urn:ogc:def:crs:EPSG::4326', 'urn:ogc:def:crs:OGC:1.3:CRS84'];

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}
function isObj(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function kindLabel(kind) {
  const k = (config.viewKinds || {})[kind];
  return k ? k.label : String(kind);
}

class NotAPlan extends Error {}

/* A checked site of the JSON answer's form, or a NotAPlan naming what is wrong with site i. */
function checkSite(s, i) {
  const where = `第 ${i + 1} 个点位`;
  if (!isObj(s)) {
    throw new NotAPlan(`${where}不是对象`);
  }
  if (!isNum(s.lon) || !isNum(s.lat) || Math.abs(s.lon) > 180 || Math.abs(s.lat) > 90) {
    throw new NotAPlan(`${where}没有有效的经纬度（应为 EPSG:4490 经纬度）`);
  }
  if (!isNum(s.households_newly_seen)) {
    throw new NotAPlan(`${where}缺少“新增可见户数”（households_newly_seen）`);
  }
  const d = s.direction;
  if (!isObj(d) || (d.degrees !== null && d.degrees !== undefined && !isNum(d.degrees))) {
    throw new NotAPlan(`${where}的朝向无效`);
  }
  return s;
}

/* A GeoJSON feature of a plan file → a site of the JSON answer's form (plan_geojson reversed). */
function siteOfFeature(f, i) {
  const where = `第 ${i + 1} 个要素`;
  if (!isObj(f) || f.type !== 'Feature' || !isObj(f.geometry) || f.geometry.type !== 'Point') {
    throw new NotAPlan(`${where}不是点要素`);
  }
  const c = f.geometry.coordinates;
  const p = f.properties;
  if (!Array.isArray(c) || c.length < 2 || !isObj(p)) {
    throw new NotAPlan(`${where}缺少坐标或属性`);
  }
  const site = {};
  Object.keys(p).forEach((k) => {
    if (k !== 'direction' && k !== 'bearing_deg') {
      site[k] = p[k];
    }
  });
  site.lon = c[0];
  site.lat = c[1];
  site.direction = {
    name: p.direction === undefined ? null : p.direction,
    degrees: isNum(p.bearing_deg) ? p.bearing_deg : null
  };
  return checkSite(site, i);
}

/*
 * The plan in a parsed file: {sites, totals} (the JSON answer's form); throws NotAPlan with a
 * Chinese reason for anything else.
 */
export function readPlan(data) {
  if (!isObj(data)) {
    throw new NotAPlan('文件内容不是 JSON 对象');
  }
  if (data.type === 'FeatureCollection') {
    const crs = data.crs && data.crs.properties && data.crs.properties.name;
    if (crs && GEO_CRS.indexOf(String(crs)) < 0) {
      throw new NotAPlan(`坐标系 ${crs} 不是经纬度（应为 EPSG:4490）`);
    }
    if (!Array.isArray(data.features)) {
      throw new NotAPlan('GeoJSON 没有 features');
    }
    if (!isObj(data.plan) && data.features.length === 0) {
      throw new NotAPlan('GeoJSON 中没有点位，也没有规划汇总（plan）');
    }
    const sites = data.features.map(siteOfFeature);
    return {sites: sites, totals: isObj(data.plan) ? data.plan : {}};
  }
  if (Array.isArray(data.sites)) {
    const totals = {};
    Object.keys(data).forEach((k) => {
      if (k !== 'sites') {
        totals[k] = data[k];
      }
    });
    return {sites: data.sites.map(checkSite), totals: totals};
  }
  if (data.type) {
    throw new NotAPlan(`这是 GeoJSON ${String(data.type).slice(0, 40)}，不是布点规划的点位集合（FeatureCollection）`);
  }
  throw new NotAPlan('既不是布点规划的 GeoJSON（FeatureCollection），也不是规划结果 JSON（含 sites）');
}

/* The plan as gridmap.services.plan.plan_geojson writes it. */
export function planGeojson(plan) {
  return {
    type: 'FeatureCollection',
    name: 'camera_plan',
    crs: {type: 'name', properties: {name: 'urn:ogc:def:crs:EPSG::4490'}},
    plan: plan.totals,
    features: plan.sites.map((s) => {
      const props = {};
      Object.keys(s).forEach((k) => {
        if (k !== 'lon' && k !== 'lat' && k !== 'direction') {
          props[k] = s[k];
        }
      });
      props.direction = s.direction.name === undefined ? null : s.direction.name;
      props.bearing_deg = isNum(s.direction.degrees) ? s.direction.degrees : null;
      return {type: 'Feature', geometry: {type: 'Point', coordinates: [s.lon, s.lat]}, properties: props};
    })
  };
}

function csvCell(v) {
  if (v === null || v === undefined) {
    return '';
  }
  const t = String(v);
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/* The sites as CSV (the Chinese headers of gridmap.services.plan.COLUMNS), with a UTF-8 BOM. */
export function planCsv(plan) {
  const lines = [COLUMNS.map((c) => c[1]).join(',')];
  plan.sites.forEach((s) => {
    const flat = Object.assign({}, s, {
      direction: s.direction.name,
      bearing_deg: s.direction.degrees,
      kind_name: kindLabel(s.kind),
      source_name: SOURCE_NAMES[s.source] || s.source
    });
    lines.push(COLUMNS.map((c) => csvCell(flat[c[0]])).join(','));
  });
  return `\ufeff${lines.join('\r\n')}\r\n`;
}

/* The view sector of a site as [lat, lng] points: `angle` degrees wide around `bearing` (clockwise
   from north; none or 360°: a full circle), `range` metres deep (a local flat-earth approximation:
   exact to well under a metre at these ranges). */
function sector(lat, lon, bearing, angle, range) {
  const mPerLat = 111320;
  const mPerLon = 111320 * Math.cos((lat * Math.PI) / 180);
  const full = !isNum(bearing) || angle >= 360;
  const start = full ? 0 : bearing - angle / 2;
  const span = full ? 360 : angle;
  const steps = Math.max(6, Math.ceil(span / 10));
  const pts = full ? [] : [[lat, lon]];
  for (let i = 0; i <= steps; i++) {
    const a = ((start + (span * i) / steps) * Math.PI) / 180;
    pts.push([lat + (range * Math.cos(a)) / mPerLat, lon + (range * Math.sin(a)) / mPerLon]);
  }
  return pts;
}

function download(name, type, text) {
  const blob = new Blob([text], {type: type});
  const href = URL.createObjectURL(blob);
  const a = el('a', {href: href, download: name});
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 1000);
}

function pctText(gap) {
  return isNum(gap) ? `${(gap * 100).toFixed(2)}%` : '未知';
}

/*
 * The 布点规划 card in `card` (an empty <section>) and its layer on `map`. opts.county(): the county
 * code to plan (null: the server's only county). Returns {load(data), clear(), plan(), markers(),
 * message()} for the page tests.
 */
export function planLayer(map, card, opts) {
  const pane = map.createPane('gm-plan');
  pane.style.zIndex = 450;
  const group = L.layerGroup().addTo(map);
  let shown = null;
  let markers = [];

  const file = el('input', {type: 'file', id: 'gm-plan-file', accept: '.geojson,.json,application/json'});
  const budget = el('input', {
    type: 'number',
    id: 'gm-plan-budget',
    class: 'gm-input',
    min: '1',
    step: '1',
    value: '10'
  });
  const each = el('input', {type: 'checkbox', id: 'gm-plan-each'});
  const token = el('input', {type: 'password', id: 'gm-plan-token', class: 'gm-input', autocomplete: 'off'});
  const run = el('button', {type: 'button', class: 'gm-btn', id: 'gm-plan-run'}, '计算');
  const geo = el(
    'button',
    {type: 'button', class: 'gm-btn gm-btn-ghost', id: 'gm-plan-geojson', disabled: ''},
    '导出 GeoJSON'
  );
  const csv = el('button', {type: 'button', class: 'gm-btn gm-btn-ghost', id: 'gm-plan-csv', disabled: ''}, 'CSV');
  const clear = el('button', {type: 'button', class: 'gm-btn gm-btn-ghost', id: 'gm-plan-clear', disabled: ''}, '清除');
  const status = el('p', {
    class: 'gm-status gm-plan-status',
    id: 'gm-plan-status',
    role: 'status',
    'aria-live': 'polite'
  });
  const summary = el('p', {class: 'gm-export-scope', id: 'gm-plan-summary'});
  try {
    token.value = sessionStorage.getItem(TOKEN_KEY) || '';
  } catch (_e) {
    // storage refused (a private window's policy): the token is typed each time
  }
  fill(
    card,
    el('h2', {id: 'gm-plan-title'}, '布点规划'),
    el(
      'div',
      {class: 'gm-export-row'},
      el('label', {class: 'gm-btn gm-btn-ghost gm-plan-open', for: 'gm-plan-file'}, '打开规划文件'),
      file
    ),
    el(
      'div',
      {class: 'gm-export-row'},
      el('label', {for: 'gm-plan-budget'}, '新增摄像头'),
      budget,
      el('label', {class: 'gm-check'}, each, ' 每个网格至少一台')
    ),
    el('div', {class: 'gm-export-row'}, el('label', {class: 'gm-sr', for: 'gm-plan-token'}, '编辑令牌'), token, run),
    status,
    summary,
    el('div', {class: 'gm-export-row'}, geo, csv, clear)
  );
  token.placeholder = '编辑令牌（仅本标签页保存）';
  file.className = 'gm-sr';

  function say(text, busy) {
    status.textContent = text || '';
    status.classList.toggle('gm-busy', !!busy);
  }

  function draw(plan) {
    group.clearLayers();
    markers = [];
    shown = plan;
    const kinds = config.viewKinds || {};
    plan.sites.forEach((s, i) => {
      const k = kinds[s.kind] || kinds.bullet || {angle: 80, range: 50};
      L.polygon(sector(s.lat, s.lon, s.direction.degrees, k.angle, k.range), {
        pane: 'gm-plan',
        interactive: false,
        color: SITE_COLOUR,
        weight: 1,
        fillColor: SITE_COLOUR,
        fillOpacity: 0.2
      }).addTo(group);
      const rank = isNum(s.rank) ? s.rank : i + 1;
      const bearing = isNum(s.direction.degrees) ? `（${s.direction.degrees}°）` : '';
      const m = L.circleMarker([s.lat, s.lon], {
        pane: 'gm-plan',
        radius: 6,
        color: '#fff',
        weight: 2,
        fillColor: SITE_COLOUR,
        fillOpacity: 1
      }).bindPopup(
        el(
          'div',
          {class: 'gm-plan-popup'},
          el('strong', {}, `规划点位 ${rank}`),
          el('br'),
          `网格 ${s.grid_code || '—'}`,
          el('br'),
          `朝向 ${s.direction.name || '—'}${bearing} · ${kindLabel(s.kind)}`,
          el('br'),
          `新增可见户数 ${num(Math.round(s.households_newly_seen * 10) / 10)}`
        )
      );
      m.addTo(group);
      markers.push(m);
    });
    const t = plan.totals;
    const hh = isNum(t.households_newly_seen)
      ? t.households_newly_seen
      : plan.sites.reduce((a, s) => a + s.households_newly_seen, 0);
    summary.textContent = `${plan.sites.length} 个点位 · 新增可见 ${num(Math.round(hh * 10) / 10)} 户 · 最优性差距 ${pctText(t.optimality_gap)}`;
    [geo, csv, clear].forEach((b) => {
      b.disabled = plan.sites.length === 0 && b !== clear;
    });
    clear.disabled = false;
    if (plan.sites.length) {
      map.fitBounds(L.latLngBounds(plan.sites.map((s) => [s.lat, s.lon])).pad(0.3), {maxZoom: 16});
    }
  }

  /* Draws the plan in `data` (parsed JSON); returns false (and says why) for anything else. */
  function load(data) {
    let plan;
    try {
      plan = readPlan(data);
    } catch (err) {
      if (err instanceof NotAPlan) {
        say(`不是布点规划文件：${err.message}。请选择 gridmap plan cameras --format geojson 导出的文件。`);
        return false;
      }
      throw err;
    }
    draw(plan);
    say('');
    return true;
  }

  function reset() {
    group.clearLayers();
    markers = [];
    shown = null;
    summary.textContent = '';
    say('');
    [geo, csv, clear].forEach((b) => {
      b.disabled = true;
    });
  }

  file.addEventListener('change', () => {
    const f = file.files && file.files[0];
    file.value = '';
    if (!f) {
      return;
    }
    if (f.size > MAX_FILE_MB * 1024 * 1024) {
      say(`文件过大（${num(Math.round(f.size / 1048576))} MB，上限 ${MAX_FILE_MB} MB）`);
      return;
    }
    f.text().then(
      (text) => {
        let data;
        try {
          data = JSON.parse(text.replace(/^\ufeff/, ''));
        } catch (_e) {
          say(`不是布点规划文件：${f.name} 不是有效的 JSON/GeoJSON。`);
          return;
        }
        load(data);
      },
      () => say(`无法读取文件 ${f.name}`)
    );
  });

  run.addEventListener('click', () => {
    const n = Number(budget.value);
    if (!Number.isInteger(n) || n < 1) {
      say('新增摄像头数量应为正整数');
      return;
    }
    const t = token.value.trim();
    if (!t) {
      say('请填写编辑令牌（editor 或 admin）');
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, t);
    } catch (_e) {
      // not kept: typed again next time
    }
    const code = opts.county();
    run.disabled = true;
    say('正在计算布点规划…', true);
    api('api/v1/plan', {token: t, json: {budget: n, code: code || undefined, must_cover_each_grid: each.checked}})
      .then(
        (answer) => {
          if (load(answer)) {
            say(`已计算：${answer.code || code || ''}，${answer.method || ''}`);
          }
        },
        (err) => say(`无法计算：${(err && err.message) || err}`)
      )
      .then(() => {
        run.disabled = false;
      });
  });

  geo.addEventListener('click', () => {
    if (shown) {
      download('camera_plan.geojson', 'application/geo+json', JSON.stringify(planGeojson(shown)));
    }
  });
  csv.addEventListener('click', () => {
    if (shown) {
      download('camera_plan.csv', 'text/csv;charset=utf-8', planCsv(shown));
    }
  });
  clear.addEventListener('click', reset);

  return {
    load: load,
    clear: reset,
    plan: () => shown,
    markers: () => markers,
    message: () => status.textContent,
    summary: () => summary.textContent
  };
}
