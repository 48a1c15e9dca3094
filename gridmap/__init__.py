"""gridmap: county grid maps and video coverage (网格化管理 / 数字乡村)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridmap")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"
