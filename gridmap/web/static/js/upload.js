/*
 * /upload: send a boundary file (POST /api/v1/uploads/boundaries) or a camera register
 * (POST /api/v1/uploads/cameras) with the editor token, show the validation report (a list of
 * issues and their geometries on a map) or the import report, and publish a validated upload
 * (POST /api/v1/uploads/{id}/publish). Publishing is offered only when the report has no error;
 * a refusal (409) is shown with the server's message.
 *
 * The editor token is kept in this browser's localStorage (key gridmap.editorToken) and sent as
 * `Authorization: Bearer`. Every text from the server goes into the page as text (el). The
 * accepted file extensions, finding kinds and severities come from the server's page config.
 */

import {basemapChoices, showBasemap} from './basemap.js';
import {
  api,
  areaGrid,
  config,
  el,
  fill,
  KINDS,
  LEVELS,
  levelKey,
  levelName,
  num,
  pageToken,
  SEVERITIES,
  tileInfo,
  UPLOAD_EXTENSIONS,
  url
} from './common.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'gridmap.editorToken';

const state = {
  kind: 'boundary',
  busy: false,
  upload: null,
  result: null,
  publish: null,
  defectMap: null,
  defectLayer: null,
  issueLayers: {}
};
window.gmUpload = state;

/* ------------------------------------------------------------ token */

const tokenInput = $('gm-token');
function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch (_e) {
    return '';
  }
}
function editorToken() {
  return tokenInput.value.trim();
}
function showTokenState() {
  const t = editorToken(),
    box = $('gm-token-state');
  box.classList.toggle('gm-ok', !!t && t === storedToken());
  box.classList.remove('gm-error');
  box.textContent = !t
    ? '请输入编辑或管理员令牌。令牌只保存在本机浏览器中（localStorage）。'
    : t === storedToken()
      ? '令牌已保存在本机浏览器中，下次打开无需再输入。'
      : '令牌将在上传时先向服务器核对，通过后才保存在本机浏览器中。';
}
/* Who the token is (GET /api/v1/token); a token that cannot write is refused here, never stored. */
function checkToken() {
  return api('api/v1/token', {token: editorToken(), cache: 'no-store'}).then((me) => {
    state.me = me;
    if (!me.writes) {
      const e = new Error(`令牌“${me.name}”是${me.role === 'viewer' ? '只读' : '嵌入'}令牌，不能上传或发布数据。`);
      e.status = 403;
      e.code = 'role_cannot_write';
      throw e;
    }
    return me;
  });
}
function showTokenOk(me) {
  const box = $('gm-token-state');
  const scope = me.scope ? `，可修改 ${areaName(me.scope, me.scope_name)} 范围内的数据` : '，可修改全部数据';
  box.classList.add('gm-ok');
  box.classList.remove('gm-error');
  box.textContent = `令牌有效并已保存：${me.name}（${me.role === 'admin' ? '管理员' : '编辑'}${scope}）。`;
}
function showTokenRefused(err) {
  const box = $('gm-token-state');
  box.classList.remove('gm-ok');
  box.classList.add('gm-error');
  box.textContent = `令牌未保存：${err.message || err}`;
}
tokenInput.value = storedToken();
tokenInput.addEventListener('input', showTokenState);
$('gm-token-clear').addEventListener('click', () => {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch (_e) {
    /* storage disabled */
  }
  tokenInput.value = '';
  showTokenState();
  tokenInput.focus();
});
showTokenState();
function rememberToken() {
  try {
    localStorage.setItem(TOKEN_KEY, editorToken());
  } catch (_e) {
    /* storage disabled */
  }
}
function forgetToken() {
  try {
    if (storedToken() === editorToken()) {
      localStorage.removeItem(TOKEN_KEY);
    }
  } catch (_e) {
    /* storage disabled */
  }
}
/* Reading tiles and areas: the page's ?token= if any, else the editor token (editors may read). */
function readToken() {
  return pageToken || editorToken() || null;
}

/* ------------------------------------------------------------ tabs and file */

const LEVEL_SELECT = $('gm-b-level');
LEVELS.forEach((lv) => {
  LEVEL_SELECT.appendChild(el('option', {value: String(lv.level)}, `${lv.level} ${lv.name}`));
});

const tabs = [$('gm-tab-boundary'), $('gm-tab-cameras')];
function setKind(kind) {
  state.kind = kind;
  tabs.forEach((t) => {
    const on = t.dataset.kind === kind;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
  });
  $('gm-form').setAttribute('aria-labelledby', kind === 'boundary' ? 'gm-tab-boundary' : 'gm-tab-cameras');
  $('gm-adv-boundary').hidden = kind !== 'boundary';
  $('gm-adv-cameras').hidden = kind !== 'cameras';
  $('gm-drop-title').textContent = kind === 'boundary' ? '选择或拖入边界文件' : '选择或拖入摄像头台账';
  $('gm-drop-hint').textContent =
    kind === 'boundary'
      ? 'Shapefile（zip 压缩包）、GeoPackage、GeoJSON、KML/KMZ'
      : 'CSV、Excel（xlsx、xls）或 GeoJSON，每行一个摄像头';
  $('gm-file').accept = UPLOAD_EXTENSIONS[kind].join(',');
  $('gm-submit').textContent = kind === 'boundary' ? '上传并校验' : '上传并导入';
  $('gm-file').value = '';
  $('gm-file-name').textContent = '';
  status('');
}
tabs.forEach((t) => {
  t.addEventListener('click', () => {
    setKind(t.dataset.kind);
  });
  t.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const other = tabs[(tabs.indexOf(t) + 1) % 2];
      other.focus();
      setKind(other.dataset.kind);
      e.preventDefault();
    }
  });
});

const fileInput = $('gm-file'),
  drop = $('gm-drop');
function showFile() {
  const f = fileInput.files && fileInput.files[0];
  $('gm-file-name').textContent = f ? `${f.name}（${(f.size / 1024 / 1024).toFixed(2)} MB）` : '';
}
fileInput.addEventListener('change', showFile);
['dragenter', 'dragover'].forEach((t) => {
  drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.add('gm-over');
  });
});
['dragleave', 'drop'].forEach((t) => {
  drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.remove('gm-over');
  });
});
drop.addEventListener('drop', (e) => {
  if (e.dataTransfer && e.dataTransfer.files.length) {
    fileInput.files = e.dataTransfer.files;
    showFile();
  }
});

function status(text, opts) {
  opts = opts || {};
  const box = $('gm-status');
  box.textContent = text || '';
  box.classList.toggle('gm-busy', !!opts.busy);
  box.classList.toggle('gm-error', !!opts.error);
}

/* ------------------------------------------------------------ submit */

$('gm-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (state.busy) {
    return;
  }
  const file = fileInput.files && fileInput.files[0];
  if (!editorToken()) {
    status('请先输入编辑令牌。', {error: true});
    tokenInput.focus();
    return;
  }
  if (!file) {
    status('请先选择文件。', {error: true});
    fileInput.focus();
    return;
  }
  const maxMb = config.maxUploadMb || 200;
  if (file.size > maxMb * 1024 * 1024) {
    status(`文件超过 ${maxMb} MB 的上限：请拆分后分批上传。`, {error: true});
    return;
  }
  const form = new FormData();
  form.append('file', file, file.name);
  const prefix = state.kind === 'boundary' ? 'gm-b-' : 'gm-c-';
  Array.prototype.forEach.call(document.querySelectorAll(`[id^="${prefix}"]`), (input) => {
    if (input.type === 'checkbox') {
      if (input.name && input.checked) {
        form.append(input.name, input.value);
      }
    } else if (input.name && input.value.trim()) {
      form.append(input.name, input.value.trim());
    }
  });
  state.busy = true;
  $('gm-submit').disabled = true;
  status(state.kind === 'boundary' ? '正在上传并校验，大文件可能需要一两分钟…' : '正在导入…', {busy: true});
  if (state.defectMap) {
    state.defectMap.remove();
    state.defectMap = null;
  }
  fill(
    $('gm-result'),
    el(
      'div',
      {className: 'gm-card'},
      el('h2', null, '正在处理'),
      el(
        'p',
        {className: 'gm-status gm-busy'},
        file.name + (state.kind === 'boundary' ? '：正在读取并校验…' : '：正在导入…')
      )
    )
  );
  const path = state.kind === 'boundary' ? 'api/v1/uploads/boundaries' : 'api/v1/uploads/cameras';
  const kind = state.kind;
  checkToken()
    .then(
      (me) => {
        rememberToken();
        showTokenOk(me);
      },
      (err) => {
        forgetToken();
        showTokenRefused(err);
        err.tokenCheck = true;
        throw err;
      }
    )
    .then(() => api(path, {method: 'POST', form: form, token: editorToken()}))
    .then((data) => {
      status(kind === 'boundary' ? '已上传，校验完成。' : '导入完成。');
      if (kind === 'boundary') {
        showBoundary(data, file.name);
      } else {
        showCameras(data, file.name);
      }
    })
    .catch((err) => {
      state.error = {status: err.status, code: err.code, message: err.message};
      status('未完成：原因见右侧结果。', {error: true});
      showError(err, file.name);
    })
    .then(() => {
      state.busy = false;
      $('gm-submit').disabled = false;
    });
});

/* What a clerk can do about each refusal, by HTTP status (the server's message says what happened). */
const ADVICE = {
  0: '检查网络连接或服务器是否在运行，稍后再试。',
  400: '表单没有完整上传：请重新选择文件再上传。',
  401: '令牌错误、过期或已被吊销：请向管理员索取新的编辑令牌，粘贴到“编辑令牌”框后重试。',
  403: '此令牌无权进行这项操作：请使用范围合适的编辑令牌或管理员令牌。',
  404: '要找的上传已不存在：请重新上传文件。',
  409: '按提示处理后重试。',
  413: '文件太大：请拆分后分批上传，或请管理员调整上限。',
  415: '请通过本页的表单上传文件。',
  422: '文件类型或内容不符合要求：请按提示修改文件或选项后重新上传。',
  429: '服务器正忙：请等一两分钟后再上传。',
  500: '服务器内部错误：请把错误代码告诉管理员。',
  503: '服务器暂时无法处理（可能数据库不可用）：请稍后再试。'
};
function errorTitle(err) {
  if (err.tokenCheck) {
    return '令牌未通过核对，未保存';
  }
  if (err.status === 0 || err.code === 'network') {
    return '无法连接服务器';
  }
  return state.kind === 'boundary' ? '上传未完成' : '导入未完成';
}
function showError(err, fileName) {
  const code = err.code || (err.status ? `http_${err.status}` : 'error');
  const advice = ADVICE[err.status] || ADVICE[Math.floor((err.status || 0) / 100) * 100] || '请按提示修改后重试。';
  fill(
    $('gm-result'),
    el(
      'div',
      {className: 'gm-card gm-error-card', id: 'gm-error', role: 'alert'},
      el('h2', null, errorTitle(err)),
      el('p', {className: 'gm-error-msg'}, err.message || String(err)),
      el('p', null, el('strong', null, '怎么办：'), advice),
      el(
        'p',
        {className: 'gm-muted'},
        `文件 ${fileName} · 错误代码 `,
        el('code', null, code),
        err.status ? ` · HTTP ${err.status}` : ''
      )
    )
  );
}

/* ------------------------------------------------------------ names */

/* "名称（编码）" for an area code: the name in the uploaded file, else the live name. */
function areaName(code, name) {
  const n = name || (state.names && state.names[code]);
  return n ? `${n}（${code}）` : String(code);
}
/* A server message with its area codes named. */
function withNames(text) {
  return String(text || '').replace(/(^|[^\d（])(\d{6,18})(?![\d）])/g, (m, pre, code) =>
    state.names && state.names[code] ? pre + areaName(code) : m
  );
}

/* A file from the API (the editor token in the header), saved by the browser. */
function download(path, fallbackName, button, note) {
  button.disabled = true;
  note.classList.remove('gm-error');
  note.textContent = '正在生成文件…';
  return fetch(url(path), {headers: {Authorization: `Bearer ${editorToken()}`}, credentials: 'same-origin'})
    .then(
      (r) => {
        if (!r.ok) {
          return r
            .json()
            .catch(() => ({}))
            .then((body) => {
              const e = new Error(body.message || `服务器返回错误 ${r.status}`);
              e.status = r.status;
              e.code = body.code;
              throw e;
            });
        }
        const cd = r.headers.get('content-disposition') || '';
        const m = /filename\*=UTF-8''([^;]+)/.exec(cd);
        const name = m ? decodeURIComponent(m[1]) : fallbackName;
        return r.blob().then((blob) => ({blob: blob, name: name, headers: r.headers}));
      },
      () => {
        const e = new Error('无法连接服务器：请检查网络或稍后重试。');
        e.status = 0;
        throw e;
      }
    )
    .then((got) => {
      const a = el('a', {href: URL.createObjectURL(got.blob), download: got.name, hidden: true});
      document.body.appendChild(a);
      a.click();
      setTimeout(() => {
        URL.revokeObjectURL(a.href);
        a.remove();
      }, 1000);
      state.downloaded = {name: got.name, size: got.blob.size};
      return got;
    })
    .catch((err) => {
      note.classList.add('gm-error');
      note.textContent = `${err.message}${err.code ? `（${err.code}）` : ''}`;
      throw err;
    })
    .finally(() => {
      button.disabled = false;
    });
}

/* ------------------------------------------------------------ boundary report */

function kindLabel(kind) {
  return (KINDS[kind] && KINDS[kind].label) || kind || '未分类';
}
function kindColour(kind) {
  return (KINDS[kind] && KINDS[kind].colour) || '#555555';
}
function fmtArea(m2) {
  if (typeof m2 !== 'number') {
    return '';
  }
  return m2 >= 1e5
    ? `${(m2 / 1e6).toFixed(3)} 平方公里`
    : `${m2.toLocaleString('zh-CN', {maximumFractionDigits: 1})} 平方米`;
}

function showBoundary(data, fileName) {
  state.upload = data;
  state.names = data.area_names || {};
  const report = data.report || {},
    summary = report.summary || {},
    issues = report.issues || [];
  const errors = summary.errors !== undefined ? summary.errors : issues.filter((i) => i.severity === 'error').length;
  const warnings = summary.warnings !== undefined ? summary.warnings : issues.length - errors;
  const ok = data.ok !== undefined ? data.ok : report.ok;
  const levels = summary.levels || {};
  const verdictCls = !ok ? 'gm-verdict-bad' : warnings ? 'gm-verdict-warn' : 'gm-verdict-ok';
  // What to fix: the error kinds, most frequent first.
  const byKind = {};
  issues
    .filter((i) => i.severity === 'error')
    .forEach((i) => {
      byKind[i.kind] = (byKind[i.kind] || 0) + 1;
    });
  const toFix = Object.keys(byKind)
    .sort((a, b) => byKind[b] - byKind[a])
    .map((k) => `${kindLabel(k)} ${byKind[k]} 处`)
    .join('、');
  const verdict = el(
    'div',
    {className: `gm-verdict ${verdictCls}`, id: 'gm-verdict'},
    el('strong', null, ok ? '校验通过' : '校验未通过'),
    el(
      'span',
      null,
      ok
        ? warnings
          ? `没有错误，${warnings} 个警告（不影响发布）`
          : '没有发现问题'
        : `需要修正 ${errors} 个错误${toFix ? `：${toFix}` : ''}${warnings ? `；另有 ${warnings} 个警告` : ''}`
    ),
    data.root_code ? el('span', {className: 'gm-verdict-scope'}, `范围：${areaName(data.root_code)}`) : null
  );
  const repairable = data.repairable || 0;
  const fixNote = el('span', {className: 'gm-fix-note', id: 'gm-fix-note', role: 'status', 'aria-live': 'polite'});
  const fixArea = el('input', {
    className: 'gm-input gm-fix-area',
    id: 'gm-fix-area',
    type: 'number',
    min: '0',
    max: '100000',
    step: '10',
    value: '100'
  });
  const fixBtn = el('button', {type: 'button', className: 'gm-btn', id: 'gm-fix'}, '自动修复并下载');
  fixBtn.addEventListener('click', () => {
    const area = Number(fixArea.value) >= 0 ? Number(fixArea.value) : 100;
    download(`api/v1/uploads/${data.upload_id}/fixed?max_area_m2=${area}`, 'fixed.zip', fixBtn, fixNote).then(
      (got) => {
        const left = Number(got.headers.get('x-errors-after') || 0);
        fixNote.textContent =
          `已下载 ${got.name}：修复了 ${got.headers.get('x-repaired-areas') || 0} 个区域，` +
          (left
            ? `修复后仍有 ${left} 个错误需人工修改（见压缩包中的“请先阅读.txt”）。`
            : '修复后没有错误：解压后上传其中的文件即可发布。');
      },
      () => {
        /* shown in the note */
      }
    );
  });
  const fixRow = repairable
    ? el(
        'div',
        {className: 'gm-fix', id: 'gm-fix-row'},
        el(
          'p',
          null,
          `其中 ${repairable} 个问题（小的缝隙、重叠、细长碎片或无效几何）可以自动修复：下载修复后的文件（格式与原文件相同）和修复说明，核对后重新上传。`
        ),
        el(
          'div',
          {className: 'gm-row'},
          fixBtn,
          el('label', {for: 'gm-fix-area', className: 'gm-hint'}, '只修复不超过'),
          fixArea,
          el('span', {className: 'gm-hint'}, '平方米的缝隙和重叠')
        ),
        fixNote
      )
    : null;
  const facts = el(
    'div',
    {className: 'gm-summary-row'},
    el('span', null, '文件 ', el('b', null, report.file || fileName)),
    report.format ? el('span', null, '格式 ', el('b', null, report.format)) : null,
    report.encoding ? el('span', null, '编码 ', el('b', null, report.encoding)) : null,
    report.crs ? el('span', null, '坐标系 ', el('b', null, report.crs)) : null,
    el('span', null, '要素 ', el('b', null, num(summary.features))),
    Object.keys(levels).length
      ? el(
          'span',
          null,
          '层级 ',
          el(
            'b',
            null,
            Object.keys(levels)
              .map((k) => `${levelName(Number(k))} ${num(levels[k])}`)
              .join('，')
          )
        )
      : null,
    data.root_code ? el('span', null, '范围 ', el('b', null, areaName(data.root_code))) : null,
    el('span', null, '上传编号 ', el('b', null, String(data.upload_id)))
  );
  const notes = (report.notes || []).length
    ? el(
        'ul',
        {className: 'gm-notes'},
        report.notes.map((n) => el('li', null, withNames(n)))
      )
    : null;

  const publishBtn = el(
    'button',
    {
      type: 'button',
      className: 'gm-btn gm-btn-publish',
      id: 'gm-publish',
      disabled: !(ok && data.status === 'validated')
    },
    '发布为新版本'
  );
  const why = el(
    'div',
    {className: 'gm-publish-why', id: 'gm-publish-why', role: 'status', 'aria-live': 'polite'},
    ok && data.status === 'validated'
      ? '没有错误，可以发布。发布后新边界立即生效，摄像头重新归属。'
      : !ok
        ? `不能发布：校验发现 ${errors} 个错误。请按下方列表修正文件后重新上传。`
        : `不能发布：此上传的状态为“${data.status || '未知'}”。`
  );
  if (!ok) {
    publishBtn.setAttribute('aria-describedby', 'gm-publish-why');
  }
  const forceBox = el('div', {className: 'gm-publish-force', id: 'gm-publish-force', hidden: true});
  publishBtn.addEventListener('click', () => {
    publish(data.upload_id, false);
  });
  const publishRow = el('div', {className: 'gm-publish'}, publishBtn, why);

  const headCard = el(
    'div',
    {className: 'gm-card'},
    el('h2', null, '边界校验结果'),
    verdict,
    fixRow,
    publishRow,
    forceBox,
    el('div', {id: 'gm-published'}),
    el(
      'details',
      {className: 'gm-tech', id: 'gm-tech'},
      el('summary', null, '技术说明（文件格式、坐标系、字段对应）'),
      facts,
      notes
    )
  );

  const list = el('ol', {className: 'gm-issues', id: 'gm-issues', 'aria-label': '问题列表'});
  issues.forEach((issue, i) => {
    const li = el(
      'li',
      {
        className: 'gm-issue',
        tabindex: '0',
        dataset: {issue: String(i), kind: issue.kind, severity: issue.severity},
        style: {borderLeftColor: kindColour(issue.kind)}
      },
      el('span', {className: `gm-sev gm-sev-${issue.severity}`}, SEVERITIES[issue.severity] || issue.severity),
      el(
        'span',
        {className: 'gm-issue-kind'},
        kindLabel(issue.kind),
        issue.area_m2 ? el('span', {className: 'gm-muted'}, ` · ${fmtArea(issue.area_m2)}`) : null
      ),
      el('span', {className: 'gm-issue-msg'}, withNames(issue.message)),
      (issue.codes || []).length
        ? el('span', {className: 'gm-issue-codes'}, `区域：${issue.codes.map((c) => areaName(c)).join('、')}`)
        : el('span')
    );
    li.addEventListener('click', () => {
      focusIssue(i);
    });
    li.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        focusIssue(i);
      }
    });
    list.appendChild(li);
  });
  if (!issues.length) {
    list.appendChild(el('li', {className: 'gm-issue'}, el('span'), '没有发现问题。'));
  }

  const mapBox = el('div', {
    className: 'gm-defect-map',
    id: 'gm-defect-map',
    role: 'application',
    'aria-label': '问题位置地图'
  });
  const grid = el(
    'div',
    {className: 'gm-result-grid'},
    el(
      'div',
      {className: 'gm-card'},
      el('h2', null, '问题列表 ', el('span', {className: 'gm-muted'}, `${issues.length} 项`)),
      list
    ),
    el('div', {className: 'gm-card'}, el('h2', null, '问题位置'), mapBox)
  );
  fill($('gm-result'), headCard, grid);
  drawDefects(data.defects, mapBox);
}

function drawDefects(defects, box) {
  if (state.defectMap) {
    state.defectMap.remove();
    state.defectMap = null;
  }
  const map = L.map(box, {zoomSnap: 0.25, maxZoom: 20, preferCanvas: false});
  state.defectMap = map;
  map.attributionControl.setPrefix('gridmap');
  map.createPane('gm-context').style.zIndex = 350;
  map.getPane('gm-context').style.pointerEvents = 'none';
  showBasemap(map, basemapChoices().default); // the default basemap, if any (no choice here)
  // The live areas around the defects: the upload's deepest level (thin) under its parent level.
  const token = readToken();
  const levels = Object.keys(((state.upload.report || {}).summary || {}).levels || {}).map(Number);
  const deepest = levels.length ? Math.max.apply(null, levels) : 3;
  [
    [deepest, 0.8, '#8795a5'],
    [deepest - 1, 2, '#3d4b5c']
  ].forEach((spec, i) => {
    const key = levelKey(spec[0]);
    if (!key) {
      return;
    }
    tileInfo(key, token).then((info) => {
      areaGrid({
        layer: key,
        pane: 'gm-context',
        maxNativeZoom: info.maxzoom,
        minNativeZoom: info.minzoom,
        token: token,
        style: () => ({
          fill: i === 0,
          fillColor: '#ffffff',
          fillOpacity: 0.55,
          stroke: true,
          color: spec[2],
          weight: spec[1],
          opacity: 0.9
        })
      }).addTo(map);
    });
  });
  state.issueLayers = {};
  const features = (defects && defects.features) || [];
  state.defectLayer = L.geoJSON(
    {type: 'FeatureCollection', features: features},
    {
      style: (f) => {
        const c = kindColour(f.properties.kind);
        return {color: c, weight: 2.5, opacity: 1, fillColor: c, fillOpacity: 0.45};
      },
      pointToLayer: (f, latlng) => {
        const c = kindColour(f.properties.kind);
        return L.circleMarker(latlng, {radius: 9, color: c, weight: 3, fillColor: c, fillOpacity: 0.25});
      },
      onEachFeature: (f, layer) => {
        const i = f.properties.issue;
        state.issueLayers[i] = state.issueLayers[i] || [];
        state.issueLayers[i].push(layer);
        layer.bindTooltip(
          () =>
            el(
              'div',
              null,
              el('strong', null, `${kindLabel(f.properties.kind)}（${SEVERITIES[f.properties.severity] || ''}）`),
              el('div', null, (f.properties.codes || []).map((c) => areaName(c)).join('、'))
            ),
          {sticky: true, direction: 'auto'}
        );
        layer.on('click', () => {
          focusIssue(i, {fromMap: true});
        });
      }
    }
  ).addTo(map);
  const present = {};
  features.forEach((f) => {
    present[f.properties.kind] = f.properties.severity;
  });
  if (Object.keys(present).length) {
    const legend = L.control({position: 'bottomleft'});
    legend.onAdd = () =>
      el(
        'div',
        {className: 'gm-legend gm-legend-static'},
        el('div', {className: 'gm-legend-title'}, '问题类型'),
        el(
          'ul',
          {className: 'gm-legend-list'},
          Object.keys(present).map((k) =>
            el(
              'li',
              {className: 'gm-legend-row'},
              el('span', {className: 'gm-swatch', style: {background: kindColour(k)}, 'aria-hidden': 'true'}),
              `${kindLabel(k)}（${SEVERITIES[present[k]] || ''}）`
            )
          )
        )
      );
    legend.addTo(map);
  }
  const b = state.defectLayer.getBounds();
  if (b.isValid()) {
    map.fitBounds(b.pad(0.6), {maxZoom: 17});
  } else {
    map.setView([35, 105], 5);
    fitToRoot(map);
  }
}

function fitToRoot(map) {
  const code = state.upload && state.upload.root_code;
  if (!code) {
    return;
  }
  api(`api/v1/areas/${encodeURIComponent(code)}`, {token: readToken()})
    .then((f) => {
      const bb = f.properties && f.properties.bbox;
      if (bb) {
        map.fitBounds([
          [bb[1], bb[0]],
          [bb[3], bb[2]]
        ]);
      }
    })
    .catch(() => {
      /* no context: the map stays on the default view */
    });
}

function focusIssue(i, opts) {
  opts = opts || {};
  Array.prototype.forEach.call(document.querySelectorAll('.gm-issue'), (li) => {
    li.classList.toggle('gm-active', li.dataset.issue === String(i));
  });
  const item = document.querySelector(`.gm-issue[data-issue="${i}"]`);
  if (item && opts.fromMap) {
    item.scrollIntoView({block: 'nearest'});
  }
  const layers = state.issueLayers[i] || [];
  if (!layers.length || !state.defectMap) {
    return;
  }
  const group = L.featureGroup(layers);
  state.defectMap.flyToBounds(group.getBounds().pad(1.5), {maxZoom: 18, duration: 0.6});
  if (layers[0].openTooltip) {
    layers[0].openTooltip(group.getBounds().getCenter());
  }
  layers.forEach((l) => {
    if (l.setStyle) {
      l.setStyle({weight: 5});
      setTimeout(() => {
        l.setStyle({weight: l instanceof L.CircleMarker ? 3 : 2.5});
      }, 1600);
    }
    if (l.bringToFront) {
      l.bringToFront();
    }
  });
}

/* ------------------------------------------------------------ publish */

function publish(uploadId, force) {
  const btn = $('gm-publish'),
    why = $('gm-publish-why');
  const reasonInput = $('gm-force-reason');
  const body = {force: !!force, reason: force && reasonInput ? reasonInput.value.trim() : null};
  if (force && !body.reason) {
    why.textContent = '强制发布必须写明原因。';
    why.classList.add('gm-error');
    return;
  }
  btn.disabled = true;
  why.classList.remove('gm-error');
  why.textContent = '正在发布…';
  api(`api/v1/uploads/${uploadId}/publish`, {method: 'POST', json: body, token: editorToken()})
    .then((r) => {
      state.publish = r;
      why.textContent = `已发布为版本 ${r.version}。`;
      fill($('gm-publish-force'));
      $('gm-publish-force').hidden = true;
      fill(
        $('gm-published'),
        el(
          'div',
          {className: 'gm-verdict gm-verdict-ok'},
          el('strong', null, '已发布'),
          el(
            'span',
            null,
            '版本 ' +
              r.version +
              '，范围 ' +
              r.root +
              '：新增 ' +
              num(r.added) +
              ' 个区域，替换 ' +
              num(r.removed) +
              ' 个，重新归属摄像头 ' +
              num(r.cameras_assigned) +
              ' 个。'
          ),
          el('a', {href: `${url('map', {token: pageToken})}#area=${encodeURIComponent(r.root)}`}, '在一张图中查看')
        )
      );
    })
    .catch((err) => {
      state.publish = err;
      why.textContent = `未发布：${err.message || err}`;
      why.classList.add('gm-error');
      // A refusal that a person may override (e.g. deleting lower levels the file lacks) can be
      // forced with a reason; validation errors cannot (the button stays disabled).
      if (err.status === 409 && err.code === 'would_remove_descendants') {
        const box = $('gm-publish-force');
        fill(
          box,
          el(
            'div',
            {className: 'gm-field'},
            el('label', {for: 'gm-force-reason'}, '确认并强制发布：原因（记入版本记录）'),
            el('input', {className: 'gm-input', id: 'gm-force-reason', placeholder: '如：乡镇调整，下级网格另行上传'})
          ),
          el(
            'button',
            {
              type: 'button',
              className: 'gm-btn gm-btn-danger',
              id: 'gm-force',
              onclick: () => {
                publish(uploadId, true);
              }
            },
            '确认强制发布'
          )
        );
        box.hidden = false;
        btn.disabled = true;
      } else {
        btn.disabled = err.code === 'validation_failed' || err.code === 'already_published';
      }
    });
}

/* ------------------------------------------------------------ camera import report */

function showCameras(r, fileName) {
  state.result = r;
  const rejected = r.rejected || [],
    outside = r.outside || [];
  // A report lists the first rows in full (GRIDMAP_MAX_REPORT_REJECTED) and counts all of them.
  const rejectedShown = r.rejected_truncated
    ? `共 ${num(r.rejected_count)} 行，列出前 ${num(rejected.length)} 行`
    : `${num(rejected.length)} 行`;
  const outsideShown = r.outside_truncated
    ? `共 ${num(r.outside_count)} 个，列出前 ${num(outside.length)} 个`
    : `${num(outside.length)} 个`;
  const none = !r.ok && !r.imported;
  const byCode = r.rejected_by_code || {};
  const reasons = Object.keys(byCode)
    .map((c) => `${problemLabel(c)} ${num(byCode[c])} 行`)
    .join('、');
  const verdict = el(
    'div',
    {
      className: `gm-verdict ${r.ok ? 'gm-verdict-ok' : none ? 'gm-verdict-bad' : 'gm-verdict-warn'}`,
      id: 'gm-verdict'
    },
    el('strong', null, r.ok ? '全部导入' : none ? '没有导入任何行' : '部分导入'),
    el(
      'span',
      null,
      `共 ${num(r.rows)} 行，导入 ${num(r.imported)} 行，拒绝 ${num(r.rejected_count)} 行` +
        (reasons ? `：${reasons}。请改正被拒绝的行后重新上传（已导入的行不受影响）。` : '')
    )
  );
  function count(label, n, bad) {
    return el('div', {className: `gm-count${bad && n ? ' gm-bad' : ''}`}, el('b', null, num(n)), label);
  }
  const counts = el(
    'div',
    {className: 'gm-counts'},
    count('表格行数', r.rows),
    count('新增', r.inserted),
    count('更新', r.updated),
    count('未变化', r.unchanged),
    count('拒绝', r.rejected_count, true),
    count('不在任何网格内', r.outside_count, true)
  );
  const msgs = [].concat(r.warnings || [], r.notes || []);
  if (r.crs_suggestion && r.crs_suggestion.message) {
    msgs.unshift(r.crs_suggestion.message);
  }
  const head = el(
    'div',
    {className: 'gm-card'},
    el('h2', null, '摄像头导入结果'),
    verdict,
    counts,
    el(
      'details',
      {className: 'gm-tech', id: 'gm-tech'},
      el('summary', null, '技术说明（坐标系、字段对应）'),
      el(
        'div',
        {className: 'gm-summary-row'},
        el('span', null, '文件 ', el('b', null, r.file || fileName)),
        el('span', null, '坐标系 ', el('b', null, r.crs || '—')),
        el('span', null, '县 ', el('b', null, r.county || '—')),
        r.import_id !== undefined && r.import_id !== null
          ? el('span', null, '导入编号 ', el('b', null, String(r.import_id)))
          : null
      ),
      msgs.length
        ? el(
            'ul',
            {className: 'gm-notes'},
            msgs.map((m) => el('li', null, m))
          )
        : null
    )
  );
  const cards = [head];
  const xlsxNote = el('span', {className: 'gm-fix-note', id: 'gm-xlsx-note', role: 'status', 'aria-live': 'polite'});
  const xlsxBtn = el(
    'button',
    {type: 'button', className: 'gm-btn gm-btn-ghost', id: 'gm-rejected-xlsx'},
    '下载被拒绝的行（Excel）'
  );
  xlsxBtn.addEventListener('click', () => {
    download(`api/v1/uploads/${r.upload_id}/rejected.xlsx`, 'rejected.xlsx', xlsxBtn, xlsxNote).then(
      (got) => {
        xlsxNote.textContent = `已下载 ${got.name}${r.rejected_truncated ? '（服务器只保存了前面的行，表中有说明）' : ''}。`;
      },
      () => {
        /* shown in the note */
      }
    );
  });
  cards.push(
    el(
      'div',
      {className: 'gm-card'},
      el('h2', null, '被拒绝的行 ', el('span', {className: 'gm-muted'}, rejectedShown)),
      rejected.length && r.upload_id ? el('div', {className: 'gm-row'}, xlsxBtn, xlsxNote) : null,
      rejected.length
        ? el(
            'div',
            {className: 'gm-table-wrap'},
            el(
              'table',
              {className: 'gm-table', id: 'gm-rejected'},
              el(
                'thead',
                null,
                el(
                  'tr',
                  null,
                  el('th', {className: 'gm-num', scope: 'col'}, '行号'),
                  el('th', {scope: 'col'}, '设备编码'),
                  el('th', {scope: 'col'}, '原因'),
                  el('th', {scope: 'col'}, '字段'),
                  el('th', {scope: 'col'}, '值')
                )
              ),
              el(
                'tbody',
                null,
                rejected.map((p) =>
                  el(
                    'tr',
                    {dataset: {code: p.code || ''}},
                    el('td', {className: 'gm-num'}, String(p.row)),
                    el('td', null, el('code', null, p.device_id || '—')),
                    el('td', null, el('strong', null, problemLabel(p.code)), el('br'), p.message || ''),
                    el('td', null, p.field || ''),
                    el('td', null, p.value === null || p.value === undefined ? '' : String(p.value))
                  )
                )
              )
            )
          )
        : el('p', {className: 'gm-muted'}, '没有被拒绝的行。')
    )
  );
  if (outside.length) {
    cards.push(
      el(
        'div',
        {className: 'gm-card'},
        el(
          'h2',
          null,
          '不在任何网格内的摄像头 ',
          el('span', {className: 'gm-muted'}, `${outsideShown}（已导入，请核对坐标）`)
        ),
        el(
          'div',
          {className: 'gm-table-wrap'},
          el(
            'table',
            {className: 'gm-table'},
            el(
              'thead',
              null,
              el(
                'tr',
                null,
                el('th', {className: 'gm-num', scope: 'col'}, '行号'),
                el('th', {scope: 'col'}, '设备编码'),
                el('th', {className: 'gm-num', scope: 'col'}, '经度'),
                el('th', {className: 'gm-num', scope: 'col'}, '纬度')
              )
            ),
            el(
              'tbody',
              null,
              outside.map((o) =>
                el(
                  'tr',
                  null,
                  el('td', {className: 'gm-num'}, String(o.row)),
                  el('td', null, el('code', null, o.device_id || '')),
                  el('td', {className: 'gm-num'}, String(o.lon)),
                  el('td', {className: 'gm-num'}, String(o.lat))
                )
              )
            )
          )
        )
      )
    );
  }
  if (state.defectMap) {
    state.defectMap.remove();
    state.defectMap = null;
  }
  const placed = rejected.filter((p) => typeof p.lon === 'number' && typeof p.lat === 'number');
  let mapBox = null;
  if ((r.points || []).length || placed.length) {
    mapBox = el('div', {
      className: 'gm-defect-map',
      id: 'gm-camera-map',
      role: 'application',
      'aria-label': '摄像头位置地图'
    });
    cards.splice(
      1,
      0,
      el(
        'div',
        {className: 'gm-card'},
        el(
          'h2',
          null,
          '摄像头位置 ',
          el(
            'span',
            {className: 'gm-muted'},
            `已导入 ${num((r.points || []).length)} 个（蓝色）${placed.length ? `，被拒绝但有坐标 ${num(placed.length)} 行（红色）` : ''}`
          )
        ),
        mapBox
      )
    );
  }
  fill($('gm-result'), cards);
  if (mapBox) {
    drawCameras(r.points || [], placed, mapBox);
  }
}

function problemLabel(code) {
  return (config.rowProblems && config.rowProblems[code]) || code || '未知原因';
}

/* Imported cameras (blue) and rejected rows with a point (red) on a map. */
function drawCameras(points, placed, box) {
  const map = L.map(box, {zoomSnap: 0.25, maxZoom: 20, preferCanvas: true});
  state.defectMap = map;
  map.attributionControl.setPrefix('gridmap');
  showBasemap(map, basemapChoices().default); // the default basemap, if any (no choice here)
  const imported = L.featureGroup(
    points.map((p) =>
      L.circleMarker([p[3], p[2]], {
        radius: 5,
        color: '#0b5cad',
        weight: 1.5,
        fillColor: '#2b8cde',
        fillOpacity: 0.8
      }).bindTooltip(`${p[1] || '摄像头'} ${p[0]}`, {direction: 'auto'})
    )
  ).addTo(map);
  const refused = L.featureGroup(
    placed.map((p) =>
      L.circleMarker([p.lat, p.lon], {
        radius: 7,
        color: '#b3001b',
        weight: 2,
        fillColor: '#e34a33',
        fillOpacity: 0.7
      }).bindTooltip(`第 ${p.row} 行 ${p.device_id || ''}：${problemLabel(p.code)}`, {direction: 'auto'})
    )
  ).addTo(map);
  state.cameraLayers = {imported: imported, rejected: refused};
  // the live townships' outlines under the points, named, so a clerk sees where a camera landed
  // (simplified to 20 m: an outline to read by, not to measure; the read token of the page)
  api('api/v1/areas', {params: {level: 1, geometry: 'simplified', tolerance: 20, limit: 1000}, token: readToken()})
    .then((fc) => {
      const outlines = L.geoJSON(fc, {
        style: {color: '#33475b', weight: 1.5, fill: false, opacity: 0.9},
        interactive: false
      }).addTo(map);
      outlines.eachLayer((l) => {
        l.bindTooltip(l.feature.properties.name || l.feature.id, {
          permanent: true,
          direction: 'center',
          className: 'gm-outline-name'
        });
      });
      outlines.bringToBack();
      state.cameraLayers.outlines = outlines;
    })
    .catch(() => {});
  const b = imported.getLayers().length ? imported.getBounds() : refused.getBounds();
  if (b.isValid()) {
    map.fitBounds(b.pad(0.3), {maxZoom: 16});
  } else {
    map.setView([35, 105], 5);
  }
}

setKind('boundary');
