"""The app's settings show this machine's cache size, and Prune empties what no job needs (issue 19, item 8)."""
from __future__ import annotations

from PySide6.QtCore import Qt

from hyperdesk.service import RenderService

MIB = 1024 * 1024


def test_settings_show_the_cache_size_and_prune_removes_what_no_job_needs(make_window, store, qtbot, tmp_path,
                                                                         monkeypatch):
    cache = tmp_path / "cache"  # this test's own: never the session's shared asset cache
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(cache))
    plan = cache / "plans" / ("a" * 64)
    plan.mkdir(parents=True)
    (plan / "frames.bin").write_bytes(b"x" * 2 * MIB)
    w = make_window(RenderService(store))
    assert w.docks["cache"].widget().widget() is w.cache_panel  # the dock scrolls its panel
    qtbot.waitUntil(lambda: "Cache: 2.0 MiB" in w.cache_panel.label.text(), timeout=15000)
    assert "of 10.0 GiB" in w.cache_panel.label.text()  # the plan cache's cap

    qtbot.mouseClick(w.cache_panel.prune_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not plan.exists() and w.cache_panel.label.text().startswith("Cache: 0 B"),
                    timeout=15000)
    assert w.cache_panel.prune_button.isEnabled() and not w.task_errors
