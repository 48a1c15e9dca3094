"""notebooks/coverage_report.ipynb, executed end to end (nbclient) against the loaded test database.

The kernel is this test run's own interpreter: a kernelspec written into a temporary directory
(``ipykernel.kernelspec.write_kernel_spec``, argv = ``sys.executable -m ipykernel_launcher``) and
found through a KernelSpecManager that looks only there, so no user or system kernelspec named
``python3`` can stand in for it.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from gridmap.maps import check_offline

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "coverage_report.ipynb"
KERNEL = "gridmap-tests"


def outputs(nb, cell_id: str) -> list[dict]:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return cell.outputs


def html_output(nb, cell_id: str) -> str:
    return next(o["data"]["text/html"] for o in outputs(nb, cell_id) if "text/html" in o.get("data", {}))


def stream(nb, cell_id: str) -> str:
    return "".join(o["text"] for o in outputs(nb, cell_id) if o["output_type"] == "stream")


def body_rows(table_html: str) -> list[str]:
    body = re.search(r"<tbody>(.*)</tbody>", table_html, re.DOTALL).group(1)
    return re.findall(r"<tr>.*?</tr>", body, re.DOTALL)


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == "python3"


@pytest.fixture(scope="module")
def executed(loaded_engine, db_url, tmp_path_factory):
    spec_dir = write_kernel_spec(
        tmp_path_factory.mktemp("kernels") / KERNEL, overrides={"display_name": "gridmap tests"}
    )
    assert json.loads(Path(spec_dir, "kernel.json").read_text())["argv"][0] == sys.executable
    km = KernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(Path(spec_dir).parent)])
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDMAP_DATABASE_URL", db_url)  # the kernel inherits the environment
        mp.delenv("MPLBACKEND", raising=False)
        NotebookClient(
            nb, km=km, timeout=120, startup_timeout=60, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        ).execute()
    return nb


def test_county_totals(executed):
    assert "鹿邑县（411628）" in stream(executed, "setup")
    table = html_output(executed, "county")
    assert len(body_rows(table)) == 1
    for text in ("10520", "10048", "9896", "95.51%", "98.49%"):
        assert text in table


def test_township_table(executed):
    rows = body_rows(html_output(executed, "township-table"))
    assert len(rows) == 24
    first = re.sub(r"<[^>]+>", " ", rows[0]).split()
    # 真源街道, as `gridmap coverage` prints it, with its 3 blind grids
    assert first == ["411628001", "真源街道", "827", "805", "797", "97.34%", "99.01%", "是", "3"]
    summary = stream(executed, "township-summary")
    assert "上云率未达 95% 的乡镇（街道）：0 个" in summary
    assert "安装率未达 95% 的乡镇（街道）：5 个" in summary and "卫真街道 83.49%" in summary


def test_blind_grids(executed):
    assert stream(executed, "blind-grids").startswith("61 个网格没有已安装的摄像头")
    assert len(body_rows(html_output(executed, "blind-grids"))) == 61


def test_map_is_an_offline_page(executed):
    frame = html_output(executed, "map")
    srcdoc = re.search(r'<iframe srcdoc="([^"]*)"', frame)
    assert srcdoc, frame[:200]
    page = html.unescape(srcdoc.group(1))
    check_offline(page)
    assert "L.geoJson" in page and "bindTooltip(" in page and "1,294" in page
    assert not any(o["output_type"] == "stream" and o["name"] == "stderr" for o in outputs(executed, "map"))


def test_chart_is_a_png(executed):
    images = [o["data"]["image/png"] for o in outputs(executed, "chart") if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    # no missing-glyph warnings: without a CJK font the chart falls back to codes and English
    assert not any(o["output_type"] == "stream" and o["name"] == "stderr" for o in outputs(executed, "chart"))
