"""/upload as a county clerk uses it (issue 15, part 6), in Chromium at 1366×768: an error replaces
the spinner in the result panel and a rejected token is never kept; areas are named by name and
code; "自动修复并下载" downloads a repaired file that validates clean; the rejected camera rows
download as XLSX with Chinese reasons; imported and rejected cameras are drawn on a map.
Screenshots in test-artifacts/screenshots/upload15_*.png."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from api_server import client, serve
from browser import defective_boundary_file, screenshot, wait_for
from conftest import loaded_database
from openpyxl import load_workbook
from upload_files import camera_file, make_token

TOKEN_KEY = "gridmap.editorToken"
W, H = 1366, 768


@pytest.fixture(scope="module")
def site():
    _url, engine = loaded_database("gridmap_test_upload_page")
    with serve(engine) as base:
        yield engine, base
    engine.dispose()


def stored_token(page):
    return page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")


def submit(page, path) -> None:
    page.set_input_files("#gm-file", str(path))
    page.click("#gm-submit")


def test_errors_replace_the_spinner_and_a_rejected_token_is_not_kept(site, browser, tmp_path):
    engine, base = site
    path, _village, _ = defective_boundary_file(engine, tmp_path, shift_m=0)
    page = browser.page(W, H)
    page.goto(base + "/upload")
    # 1. a wrong token: 401, shown in the result panel, never stored
    page.fill("#gm-token", "gm_wrong_token_000")
    submit(page, path)
    wait_for(page, "!!document.getElementById('gm-error')", 30, "the error card")
    card = page.text_content("#gm-error")
    assert "令牌" in card and "怎么办" in card and "token_" in card
    assert page.locator("#gm-result .gm-busy").count() == 0 and "正在处理" not in page.text_content("#gm-result")
    assert stored_token(page) is None
    assert "未保存" in page.text_content("#gm-token-state")
    screenshot(page, "upload15_wrong_token")
    # 2. a viewer token: valid, but it cannot upload — refused before the upload, not stored
    page.fill("#gm-token", make_token(engine, "viewer", name="查看员"))
    submit(page, path)
    wait_for(page, "document.getElementById('gm-error') && gmUpload.error.code === 'role_cannot_write'", 30, "refusal")
    assert "只读" in page.text_content("#gm-error") and stored_token(page) is None
    # 3. a good editor token but a wrong file type: 422 in the result panel; the token is kept with its scope
    editor = make_token(engine, "editor", "411628001", "真源编辑")
    page.fill("#gm-token", editor)
    wrong = tmp_path / "表格.docx"
    wrong.write_bytes(b"not a boundary file")
    submit(page, wrong)
    wait_for(page, "document.getElementById('gm-error') && gmUpload.error.status === 422", 30, "the 422 card")
    assert "unsupported_format" in page.text_content("#gm-error") and "正在处理" not in page.text_content("#gm-result")
    assert stored_token(page) == editor
    state = page.text_content("#gm-token-state")
    assert "真源编辑" in state and "411628001" in state and "（411628001）" in state  # scope named by name and code
    screenshot(page, "upload15_wrong_type")
    # 4. the server unreachable: a network error in the panel, not a spinner
    page.context.set_offline(True)
    submit(page, path)
    wait_for(page, "!!document.getElementById('gm-error') && gmUpload.error.status === 0", 30, "network error")
    assert "无法连接服务器" in page.text_content("#gm-error")
    page.context.set_offline(False)
    browser.failed.clear()  # the 401, 403 and 422 above were expected
    page.context.close()


def test_a_defective_file_names_areas_and_downloads_a_repair_that_validates_clean(site, browser, tmp_path):
    engine, base = site
    path, village, moved = defective_boundary_file(engine, tmp_path, shift_m=0.6)
    page = browser.page(W, H)
    page.goto(base + "/upload")
    page.fill("#gm-token", make_token(engine, "admin", name="县管理员"))
    submit(page, path)
    wait_for(page, "!!document.getElementById('gm-verdict')", 90, "the validation report")
    verdict = page.text_content("#gm-verdict")
    assert "校验未通过" in verdict and "需要修正" in verdict and "重叠" in verdict
    names = page.evaluate("gmUpload.names")
    assert names[moved]
    issues = page.text_content("#gm-issues")
    assert f"{names[moved]}（{moved}）" in issues  # names with codes
    # technical notes folded; the headline and the fix come before them
    assert page.evaluate("document.getElementById('gm-tech').open") is False
    order = page.evaluate(
        "['gm-verdict','gm-fix','gm-publish','gm-tech'].map(id => document.getElementById(id).getBoundingClientRect().top)"
    )
    assert order == sorted(order), order
    # the defect tooltip flips to stay inside the map
    assert page.evaluate("Object.values(gmUpload.issueLayers)[0][0].getTooltip().options.direction") == "auto"
    screenshot(page, "upload15_defects_named")

    page.fill("#gm-fix-area", "500")  # the default 100 m² leaves one 122 m² gap in this file
    with page.expect_download(timeout=120_000) as info:
        page.click("#gm-fix")
    download = info.value
    with open(download.path(), "rb") as f:
        data = f.read()
    assert download.suggested_filename.endswith("_已修复.zip")
    archive = zipfile.ZipFile(io.BytesIO(data))
    fixed = next(n for n in archive.namelist() if n.endswith(".geojson"))
    assert "修复说明.csv" in archive.namelist()
    wait_for(page, "document.getElementById('gm-fix-note').textContent.indexOf('已下载') >= 0", 10, "the note")
    assert "修复后没有错误" in page.text_content("#gm-fix-note")
    screenshot(page, "upload15_fixed")
    page.context.close()
    # the downloaded file validates clean
    with client(base, make_token(engine, "admin", name="复核")) as http:
        again = http.post("/api/v1/uploads/boundaries", files={"file": (fixed, archive.read(fixed))}, timeout=120)
    assert again.status_code == 201 and again.json()["ok"] is True, again.json()["report"]["summary"]


def test_camera_report_reasons_in_chinese_xlsx_and_points_on_the_map(site, browser, tmp_path):
    engine, base = site
    _p, village, _ = defective_boundary_file(engine, tmp_path, shift_m=0)
    path = camera_file(tmp_path, village, bad=2)
    page = browser.page(W, H)
    page.goto(base + "/upload")
    page.fill("#gm-token", make_token(engine, "editor", village[:9], "村编辑"))
    page.click("#gm-tab-cameras")
    submit(page, path)
    wait_for(page, "!!document.getElementById('gm-verdict')", 60, "the import report")
    verdict = page.text_content("#gm-verdict")
    assert "部分导入" in verdict and "坐标不在本县范围内 2 行" in verdict
    assert "coord_outside_county" not in page.inner_text("#gm-result")  # no internal codes shown
    assert page.evaluate("document.getElementById('gm-tech').open") is False
    # the map: 2 imported cameras and the 2 rejected rows with their (wrong) points
    wait_for(page, "!!gmUpload.cameraLayers", 10, "the camera map")
    assert page.evaluate("gmUpload.cameraLayers.imported.getLayers().length") == 2
    assert page.evaluate("gmUpload.cameraLayers.rejected.getLayers().length") == 2
    # under them the live townships' outlines, named
    wait_for(page, "!!gmUpload.cameraLayers.outlines", 10, "the township outlines")
    assert page.evaluate("gmUpload.cameraLayers.outlines.getLayers().length") == 24
    assert page.locator(".gm-outline-name").count() == 24
    time.sleep(0.5)
    screenshot(page, "upload15_cameras")
    with page.expect_download(timeout=30_000) as info:
        page.click("#gm-rejected-xlsx")
    assert info.value.suggested_filename.endswith("_被拒绝的行.xlsx")
    with open(info.value.path(), "rb") as f:
        book = load_workbook(io.BytesIO(f.read()))
    rows = list(book["被拒绝的行"].iter_rows(values_only=True))
    assert rows[0][:3] == ("行号", "设备编码", "原因") and len(rows) == 3
    assert {r[2] for r in rows[1:]} == {"坐标不在本县范围内"}
    page.context.close()


def test_an_import_with_no_row_imported_is_not_called_partial(site, browser, tmp_path):
    engine, base = site
    _p, village, _ = defective_boundary_file(engine, tmp_path, shift_m=0)
    path = camera_file(tmp_path, village, bad=2)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join([lines[0], *lines[3:]]) + "\n", encoding="utf-8-sig")  # only the bad rows
    page = browser.page(W, H)
    page.goto(base + "/upload")
    page.fill("#gm-token", make_token(engine, "admin", name="管理员2"))
    page.click("#gm-tab-cameras")
    submit(page, path)
    wait_for(page, "!!document.getElementById('gm-verdict')", 60, "the import report")
    verdict = page.text_content("#gm-verdict")
    assert "没有导入任何行" in verdict and "部分导入" not in verdict
    page.context.close()
