/*
 * Offline tile packages (`gridmap export-tiles`, a PMTiles v3 archive): the pages draw from a
 * package instead of /tiles when the page URL says ?package=<URL of a .pmtiles> (read with HTTP
 * range requests; a static server without them is read whole, once), or ?package=file (the reader
 * chooses or drops a local file: nothing is requested at all).
 *
 * A package tile holds every layer (county … cameras) in one MVT; a grid of one layer gets only
 * that layer's bytes (layerBytes), so it draws and records exactly what /tiles/{layer} would give.
 * The archive is read with the vendored pmtiles library (static/vendor/pmtiles/pmtiles.js,
 * global `pmtiles`), loaded only when a page opens a package.
 */
import {config, el} from './common.js';

/*
 * The page's ?package= (a URL, relative to the page or absolute, or 'file'), else the package its
 * config names (a page of an offline screen bundle, `gridmap export-screen`), or null.
 */
export const packageParam =
  new URLSearchParams(location.search).get('package') || (config.page && config.page.package) || null;

let library = null;
function loadLibrary() {
  if (window.pmtiles) {
    return Promise.resolve(window.pmtiles);
  }
  if (!library) {
    library = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = `${config.base || '/'}static/vendor/pmtiles/pmtiles.js?v=${encodeURIComponent(config.version || '')}`;
      script.onload = () => resolve(window.pmtiles);
      script.onerror = () => reject(new Error('无法加载 pmtiles 读取程序'));
      document.head.appendChild(script);
    });
  }
  return library;
}

/* A PMTiles source that fetches the whole file once: for static servers without range requests. */
class WholeFileSource {
  constructor(href) {
    this.href = href;
    this.data = null;
  }
  getKey() {
    return this.href;
  }
  getBytes(offset, length) {
    if (!this.data) {
      this.data = fetch(this.href, {credentials: 'same-origin'}).then((r) => {
        if (!r.ok) {
          throw new Error(`服务器返回 ${r.status}`);
        }
        return r.arrayBuffer();
      });
    }
    return this.data.then((buf) => ({data: buf.slice(offset, offset + length)}));
  }
}

function varint(buf, pos) {
  let value = 0,
    scale = 1,
    byte;
  do {
    byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte >= 0x80);
  return {value: value, pos: pos};
}

const utf8 = new TextDecoder();

/*
 * The bytes of layer `name` in an (uncompressed) MVT tile, as a tile of that layer alone (a tile
 * is repeated field 3, `layers`; a layer's field 1 is its name); empty when the tile has none.
 */
export function layerBytes(tile, name) {
  let pos = 0;
  while (pos < tile.length) {
    const start = pos;
    let v = varint(tile, pos);
    if (v.value !== 26) {
      return new Uint8Array(0); // not an MVT tile: draw nothing
    }
    v = varint(tile, v.pos);
    const end = v.pos + v.value;
    let p = v.pos;
    while (p < end) {
      const key = varint(tile, p);
      const wire = key.value & 7;
      p = key.pos;
      if (wire === 2) {
        const size = varint(tile, p);
        p = size.pos;
        if (key.value >> 3 === 1) {
          if (utf8.decode(tile.subarray(p, p + size.value)) === name) {
            return tile.subarray(start, end);
          }
          break;
        }
        p += size.value;
      } else if (wire === 0) {
        p = varint(tile, p).pos;
      } else if (wire === 1 || wire === 5) {
        p += wire === 1 ? 8 : 4;
      } else {
        break;
      }
    }
    pos = end;
  }
  return new Uint8Array(0);
}

/* The package's label rows ({fields, rows}) as objects {level, code, name, short_name, lon, lat, radius_m}. */
function labelsOf(table) {
  if (!table || !Array.isArray(table.fields) || !Array.isArray(table.rows)) {
    return null;
  }
  return table.rows.map((row) => {
    const o = {};
    table.fields.forEach((f, i) => {
      o[f] = row[i];
    });
    return o;
  });
}

/* The package's description of its layers: {id: {minzoom, maxzoom, bounds}}. */
function describe(archive, header, metadata, label) {
  const bounds = metadata.bounds || [header.minLon, header.minLat, header.maxLon, header.maxLat];
  const layers = {};
  (metadata.vector_layers || []).forEach((v) => {
    layers[v.id] = {minzoom: v.minzoom, maxzoom: v.maxzoom, bounds: bounds};
  });
  const tiles = new Map(); // z/x/y → promise of the whole tile (the grids of a page share them)
  function whole(z, x, y) {
    const key = `${z}/${x}/${y}`;
    if (!tiles.has(key)) {
      if (tiles.size > 512) {
        tiles.delete(tiles.keys().next().value);
      }
      tiles.set(
        key,
        archive.getZxy(z, x, y).then((r) => (r && r.data ? new Uint8Array(r.data) : new Uint8Array(0)))
      );
    }
    return tiles.get(key);
  }
  return {
    label: label,
    name: metadata.name || '',
    revision: metadata.gridmap_revision !== undefined ? metadata.gridmap_revision : null,
    exportedAt: metadata.gridmap_exported_at || null,
    bounds: bounds,
    /* Where the areas' names go (overlays.js listLabelSource); null in a package made before them. */
    labels: labelsOf(metadata.gridmap_labels),
    layers: layers,
    /* TileJSON-like {minzoom, maxzoom, bounds} of a layer, {missing: true} when the package has none. */
    info: (id) => layers[id] || {minzoom: 0, maxzoom: 16, bounds: bounds, missing: true},
    /* Promise of the bytes of one layer's tile z/x/y (empty: nothing there). */
    tile: (id, z, x, y) => whole(z, x, y).then((t) => layerBytes(t, id))
  };
}

/*
 * openPackage(source): a URL (relative to the page or absolute) or a File → promise of the package
 * (see describe). A URL is read with range requests; when its server answers them with the whole
 * file, the file is read whole once instead.
 */
export function openPackage(source) {
  return loadLibrary().then((lib) => {
    function open(src, label) {
      const archive = new lib.PMTiles(src);
      return Promise.all([archive.getHeader(), archive.getMetadata()]).then((hm) => {
        if (hm[0].tileType !== lib.TileType.Mvt) {
          throw new Error('不是矢量瓦片（MVT）数据包');
        }
        return describe(archive, hm[0], hm[1] || {}, label);
      });
    }
    if (typeof source !== 'string') {
      return open(new lib.FileSource(source), source.name);
    }
    const href = new URL(source, location.href).href;
    const label = decodeURIComponent(href.split('?')[0].split('/').pop() || href);
    return open(new lib.FetchSource(href), label).catch(() => open(new WholeFileSource(href), label));
  });
}

/*
 * A panel asking for a local package (file picker or drag and drop) in `parent`; resolves with the
 * opened package once one could be read (a file that cannot be read says why, and asks again).
 */
export function choosePackage(parent) {
  return new Promise((resolve) => {
    const input = el('input', {type: 'file', accept: '.pmtiles', className: 'gm-package-input'});
    const note = el('div', {className: 'gm-package-note'}, '');
    const panel = el(
      'label',
      {className: 'gm-package-picker'},
      el('strong', null, '打开离线数据包'),
      el('span', null, '点击选择或把 .pmtiles 文件拖到这里（gridmap export-tiles 导出）'),
      input,
      note
    );
    function take(file) {
      if (!file) {
        return;
      }
      note.textContent = `正在读取 ${file.name}…`;
      openPackage(file).then(
        (pkg) => {
          panel.remove();
          resolve(pkg);
        },
        (err) => {
          note.textContent = `无法读取 ${file.name}：${err && err.message ? err.message : '不是 PMTiles 数据包'}`;
        }
      );
    }
    input.addEventListener('change', () => take(input.files && input.files[0]));
    panel.addEventListener('dragover', (e) => {
      e.preventDefault();
      panel.classList.add('gm-drop');
    });
    panel.addEventListener('dragleave', () => panel.classList.remove('gm-drop'));
    panel.addEventListener('drop', (e) => {
      e.preventDefault();
      panel.classList.remove('gm-drop');
      take(e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0]);
    });
    parent.appendChild(panel);
  });
}

/* "离线数据包 鹿邑县 · 数据版本 7 · 导出于 2026-12-06 22:29" (export time in the browser's zone). */
export function packageLabel(pkg) {
  let when = '';
  if (pkg.exportedAt) {
    const d = new Date(pkg.exportedAt);
    if (!Number.isNaN(d.getTime())) {
      const two = (n) => (n < 10 ? '0' : '') + n;
      when = ` · 导出于 ${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
    }
  }
  const revision = pkg.revision === null ? '' : ` · 数据版本 ${pkg.revision}`;
  return `离线数据包 ${pkg.label}${revision}${when}`;
}
