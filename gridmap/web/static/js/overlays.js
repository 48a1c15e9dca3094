/*
 * HTML overlays over the tiles: area names (labelLayer) and camera clusters at low zoom
 * (clusterLayer). Both are plain elements in a map pane, so screen readers and tests read them.
 *
 * Names: each area has a label point (the centre of its largest inscribed circle, always inside
 * the area) and that circle's radius in metres (/api/v1/map/labels, or an offline package's
 * labels). At the current zoom a name is shown when it fits inside that circle (its width at
 * most FIT × the radius in pixels) and does not collide with a name already placed; shallower
 * levels are placed first (township names before village names before grid names), roomier areas
 * first within a level. So township names appear at county zoom, village names further in, grid
 * names deepest, each as soon as it fits. Text is measured with the font the page's CSS gives
 * each level (.gm-maplabel-l0 … l4), and after drawing the real boxes are read back and any overlap
 * removed, so no two names ever overlap whatever the fonts do. A halo (CSS) keeps them readable
 * over any fill and basemap.
 *
 * Clusters: below the camera tiles' minzoom, the cameras of the view grouped by a grid of
 * CLUSTER_PX pixels (/api/v1/map/camera-clusters), each a button with its count that zooms in.
 */
import {api, el, num, pct} from './common.js';

const FIT = 2.2; // a name may be up to 2.2 × the inscribed radius wide (1.1 × the circle's diameter)
const PAD = 3; // pixels kept free around each name
const MAX_LABELS = 400; // names drawn at most (a 4K screen holds far fewer that fit)
const EARTH_CIRCUMFERENCE = 40075016.686; // metres at the equator (Web Mercator's sphere)
const CLUSTER_PX = 100;

/* Metres per CSS pixel at the map's centre (Web Mercator, 256-pixel tiles). */
function metresPerPixel(map) {
  const lat = map.getCenter().lat;
  return (EARTH_CIRCUMFERENCE * Math.cos((lat * Math.PI) / 180)) / (256 * 2 ** map.getZoom());
}

function paddedBox(map, pad) {
  const b = map.getBounds().pad(pad);
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
  return [
    clamp(b.getWest(), -180, 180),
    clamp(b.getSouth(), -85, 85),
    clamp(b.getEast(), -180, 180),
    clamp(b.getNorth(), -85, 85)
  ];
}
function contains(outer, inner) {
  return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
}
function overlaps(a, b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/* Labels from the server: one cached answer per level, reused while the view stays inside its box
 * and asks for no smaller areas (and the data revision is the same). */
export function apiLabelSource() {
  const cache = {};
  return (level, box, minRadius, revision) => {
    const c = cache[level];
    if (c && c.revision === revision && !c.truncated && contains(c.box, box) && minRadius >= c.minRadius) {
      return Promise.resolve(c.labels);
    }
    const wide = box.slice(),
      w = box[2] - box[0],
      h = box[3] - box[1];
    wide[0] -= w / 2;
    wide[1] -= h / 2;
    wide[2] += w / 2;
    wide[3] += h / 2;
    const want = minRadius / 2;
    return api('api/v1/map/labels', {
      params: {
        level: level,
        bbox: wide.map((v) => v.toFixed(5)).join(','),
        min_radius_m: want.toFixed(1),
        limit: 3000,
        v: revision
      }
    }).then((r) => {
      cache[level] = {revision: revision, box: wide, minRadius: want, labels: r.labels, truncated: r.truncated};
      return r.labels;
    });
  };
}

/* Labels from a list held by the page (an offline package's): filtered like the server does. */
export function listLabelSource(labels) {
  return (level, box, minRadius) =>
    Promise.resolve(
      (labels || []).filter(
        (l) =>
          l.level === level &&
          l.radius_m >= minRadius &&
          l.lon >= box[0] &&
          l.lon <= box[2] &&
          l.lat >= box[1] &&
          l.lat <= box[3]
      )
    );
}

/*
 * labelLayer(map, {levels: () => [1, 2, 3], source, revision: () => rev, pane, label: '…'})
 * → {update(), clear(), setSource(fn)}. Updates itself after every move and zoom.
 */
export function labelLayer(map, opts) {
  const paneName = opts.pane || 'gm-maplabels';
  if (!map.getPane(paneName)) {
    map.createPane(paneName).style.zIndex = opts.zIndex || 450;
  }
  const pane = map.getPane(paneName);
  pane.style.pointerEvents = 'none';
  const root = el('div', {
    className: 'gm-maplabels leaflet-zoom-hide',
    role: 'group',
    'aria-label': opts.label || '地图上的名称'
  });
  pane.appendChild(root);
  const canvas = document.createElement('canvas').getContext('2d');
  const fonts = {};
  let source = opts.source;
  let generation = 0;

  function fontOf(level) {
    if (!fonts[level]) {
      const probe = el('span', {className: `gm-maplabel gm-maplabel-l${level}`, style: {visibility: 'hidden'}}, '名');
      root.appendChild(probe);
      const s = getComputedStyle(probe);
      fonts[level] = {
        font: `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`,
        size: parseFloat(s.fontSize),
        height: probe.getBoundingClientRect().height
      };
      root.removeChild(probe);
    }
    return fonts[level];
  }

  /* Client boxes of what names must keep clear of (opts.obstacles: elements, e.g. clusters). */
  function obstacleBoxes() {
    return (opts.obstacles ? opts.obstacles() : []).map((node) => {
      const r = node.getBoundingClientRect();
      return {x0: r.left, x1: r.right, y0: r.top, y1: r.bottom};
    });
  }

  function place(lists) {
    const size = map.getSize(),
      mpp = metresPerPixel(map);
    const origin = map.getContainer().getBoundingClientRect();
    const placed = obstacleBoxes().map((b) => ({
        x0: b.x0 - origin.left,
        x1: b.x1 - origin.left,
        y0: b.y0 - origin.top,
        y1: b.y1 - origin.top
      })),
      chosen = [];
    lists.forEach((item) => {
      const f = fontOf(item.level);
      canvas.font = f.font;
      item.labels.forEach((l) => {
        const text = l.short_name || l.name;
        if (!text || chosen.length >= MAX_LABELS) {
          return;
        }
        const w = canvas.measureText(text).width;
        if (w > FIT * (l.radius_m / mpp) || f.height > 2 * (l.radius_m / mpp)) {
          return; // does not fit in its area at this zoom
        }
        const p = map.latLngToContainerPoint([l.lat, l.lon]);
        const box = {
          x0: p.x - w / 2 - PAD,
          x1: p.x + w / 2 + PAD,
          y0: p.y - f.height / 2 - PAD,
          y1: p.y + f.height / 2 + PAD
        };
        if (box.x0 < 0 || box.y0 < 0 || box.x1 > size.x || box.y1 > size.y) {
          return; // only names wholly in view
        }
        for (let i = 0; i < placed.length; i++) {
          if (overlaps(box, placed[i])) {
            return;
          }
        }
        placed.push(box);
        chosen.push(l);
      });
    });
    return chosen;
  }

  function draw(chosen) {
    while (root.firstChild) {
      root.removeChild(root.firstChild);
    }
    const nodes = chosen.map((l) => {
      const p = map.latLngToLayerPoint([l.lat, l.lon]);
      const node = el(
        'span',
        {
          className: `gm-maplabel gm-maplabel-l${l.level}`,
          dataset: {code: l.code, level: String(l.level), name: l.name || ''},
          style: {left: `${Math.round(p.x)}px`, top: `${Math.round(p.y)}px`}
        },
        l.short_name || l.name
      );
      root.appendChild(node);
      return node;
    });
    // The real boxes: drop any name that overlaps one drawn before it (fonts can differ from the
    // measurement by a pixel or so); earlier names have priority.
    const boxes = obstacleBoxes();
    nodes.forEach((node) => {
      const r = node.getBoundingClientRect();
      const box = {x0: r.left, x1: r.right, y0: r.top, y1: r.bottom};
      if (boxes.some((b) => overlaps(box, b))) {
        root.removeChild(node);
      } else {
        boxes.push(box);
      }
    });
  }

  let inFlight = 0;
  function update() {
    clearTimeout(timer);
    timer = null;
    const mine = ++generation;
    const levels = opts.levels();
    if (!source || !levels.length) {
      draw([]);
      return Promise.resolve();
    }
    inFlight++;
    const box = paddedBox(map, 0),
      mpp = metresPerPixel(map),
      revision = opts.revision ? opts.revision() : null;
    return Promise.all(
      levels.map((level) => {
        // the shortest names (2 characters) fit when the radius reaches this
        const minRadius = ((2 * fontOf(level).size) / FIT) * mpp;
        return source(level, box, minRadius, revision).then(
          (labels) => ({level: level, labels: labels}),
          () => ({level: level, labels: []})
        );
      })
    )
      .then((lists) => {
        if (mine !== generation) {
          return; // a newer update is under way
        }
        lists.forEach((item) => {
          item.labels = item.labels.slice().sort((a, b) => b.radius_m - a.radius_m);
        });
        draw(place(lists));
      })
      .finally(() => {
        inFlight--;
      });
  }

  let timer = null;
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(update, 60);
  }
  map.on('moveend zoomend resize', soon);
  map.on('zoomstart viewreset', () => {
    generation++; // positions are in layer points, which a zoom moves: redrawn at its end
    draw([]);
  });
  return {
    update: update,
    /* true while an update is due or under way (the page tests wait for it) */
    busy: () => timer !== null || inFlight > 0,
    clear: () => draw([]),
    setSource: (s) => {
      source = s;
      soon();
    },
    root: root
  };
}

/*
 * clusterLayer(map, {maxZoom: () => z, revision: () => rev, enabled: () => bool, colourOf(online share)})
 * → {update()}. Below maxZoom (the camera tiles' minzoom) and while enabled: the clusters of the view.
 */
export function clusterLayer(map, opts) {
  const paneName = opts.pane || 'gm-clusters';
  if (!map.getPane(paneName)) {
    map.createPane(paneName).style.zIndex = opts.zIndex || 460;
  }
  const root = el('div', {className: 'gm-clusters leaflet-zoom-hide', role: 'group', 'aria-label': '摄像头聚合'});
  map.getPane(paneName).appendChild(root);
  let generation = 0;

  function clear() {
    while (root.firstChild) {
      root.removeChild(root.firstChild);
    }
  }
  function node(c) {
    const p = map.latLngToLayerPoint([c.lat, c.lon]);
    const share = c.installed ? c.online / c.installed : null;
    const size = Math.round(26 + 7 * Math.log10(Math.max(1, c.planned)));
    const title = `${num(c.planned)} 个摄像头：已安装 ${num(c.installed)}，在线 ${num(c.online)}（上云率 ${pct(share, 1)}）。点击放大`;
    const b = el(
      'button',
      {
        type: 'button',
        className: 'gm-cluster',
        title: title,
        'aria-label': title,
        dataset: {count: String(c.planned), online: String(c.online), installed: String(c.installed)},
        style: {
          left: `${Math.round(p.x - size / 2)}px`,
          top: `${Math.round(p.y - size / 2)}px`,
          width: `${size}px`,
          height: `${size}px`,
          background: opts.colourOf(share),
          color: opts.inkOf(opts.colourOf(share))
        }
      },
      num(c.planned)
    );
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      map.setView([c.lat, c.lon], Math.min(opts.maxZoom(), map.getZoom() + 2));
    });
    L.DomEvent.disableClickPropagation(b);
    return b;
  }
  let inFlight = 0;
  let timer = null;
  function update() {
    clearTimeout(timer);
    timer = null;
    const mine = ++generation;
    if (!opts.enabled() || map.getZoom() >= opts.maxZoom()) {
      clear();
      return Promise.resolve();
    }
    const box = paddedBox(map, 0.1);
    inFlight++;
    return api('api/v1/map/camera-clusters', {
      params: {
        z: Math.floor(map.getZoom()),
        bbox: box.map((v) => v.toFixed(5)).join(','),
        cell_px: CLUSTER_PX,
        v: opts.revision ? opts.revision() : null
      }
    })
      .then(
        (r) => {
          if (mine !== generation) {
            return;
          }
          clear();
          r.clusters.forEach((c) => {
            root.appendChild(node(c));
          });
          if (opts.onDraw) {
            opts.onDraw();
          }
        },
        () => {
          if (mine === generation) {
            clear();
          }
        }
      )
      .finally(() => {
        inFlight--;
      });
  }
  map.on('moveend zoomend', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 60);
  });
  map.on('zoomstart viewreset', () => {
    generation++;
    clear();
  });
  return {update: update, busy: () => timer !== null || inFlight > 0, clear: clear, root: root};
}
