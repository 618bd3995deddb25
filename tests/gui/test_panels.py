"""Panels and comfort features: settings per composition, recent list, drag and drop, variables,
nodes dialogs, layout persistence, shortcuts, the command line entry."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QDialogButtonBox

from hyperdesk.gui.composition_panel import CompositionPanel, VariablesEditor, composition_path_from_drop
from hyperdesk.service import RenderService
from hyperdesk.gui.nodes_panel import HostKeyDialog, NodeDialog, preflight_summary
from hyperdesk.gui.settings_panel import RenderSettings, RenderSettingsPanel, default_output, load_settings, save_settings
from hyperdesk.models import VariableDecl
from hyperdesk.store.models import NodeConfig


def test_render_settings_are_remembered_per_composition(qtbot, gui_settings, tmp_path):
    a = str(tmp_path / "a" / "index.html")
    b = str(tmp_path / "b")
    assert load_settings(gui_settings, a).output == default_output(a, "mp4") == str(tmp_path / "a" / "renders" / "a.mp4")
    save_settings(gui_settings, a, RenderSettings(format="webm", quality="high", fps="30000/1001", chunk_frames=48,
                                                  keyframe_interval=24, output="/tmp/x.webm", keep_chunks=True,
                                                  variables={"title": "Hi"}))
    got = load_settings(gui_settings, a)
    assert (got.format, got.quality, got.fps, got.chunk_frames, got.keyframe_interval, got.output, got.keep_chunks,
            got.variables) == ("webm", "high", "30000/1001", 48, 24, "/tmp/x.webm", True, {"title": "Hi"})
    assert load_settings(gui_settings, b).format == "mp4"  # another composition keeps its own
    panel = RenderSettingsPanel()
    qtbot.addWidget(panel)
    panel.set_settings(a, got)
    s = panel.settings()
    assert (s.format, s.fps, s.chunk_frames, s.output) == ("webm", "30000/1001", 48, "/tmp/x.webm")
    panel.format.setCurrentText("mov")  # the output's extension follows the format
    assert panel.output.text() == "/tmp/x.mov"


def test_recent_list_and_drop(qtbot, gui_settings, tmp_path):
    panel = CompositionPanel(gui_settings)
    qtbot.addWidget(panel)
    for n in range(12):
        panel.add_recent(f"/c/{n}.html")
    panel.add_recent("/c/3.html")
    assert panel.recent()[:2] == ["/c/3.html", "/c/11.html"] and len(panel.recent()) == 10
    comp = tmp_path / "proj"
    comp.mkdir()
    (comp / "index.html").write_text("<html></html>")
    (tmp_path / "notes.txt").write_text("x")
    assert composition_path_from_drop([QUrl.fromLocalFile(str(tmp_path / "notes.txt")),
                                       QUrl.fromLocalFile(str(comp))]) == str(comp)
    assert composition_path_from_drop([QUrl("https://example.com/x.html")]) is None
    opened = []
    panel.openRequested.connect(opened.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(comp / "index.html"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    panel.dropEvent(event)
    assert opened == [str(comp / "index.html")]


def test_variables_editor_builds_one_editor_per_declaration(qtbot):
    editor = VariablesEditor()
    qtbot.addWidget(editor)
    decls = [VariableDecl(id="title", type="string", default="Hello"),
             VariableDecl(id="size", type="number", default=3),
             VariableDecl(id="accent", type="color", default="#ff0000", label="Accent colour"),
             VariableDecl(id="show", type="boolean", default=True),
             VariableDecl(id="mood", type="enum", default="calm", options=["calm", "loud"])]
    editor.set_declarations(decls, {"title": "Bonjour"})
    assert editor.values() == {"title": "Bonjour", "size": 3, "accent": "#ff0000", "show": True, "mood": "calm"}
    assert editor.overrides() == {"title": "Bonjour"}
    editor.editors["size"].setValue(5)
    editor.editors["show"].setChecked(False)
    editor.editors["mood"].setCurrentIndex(1)
    editor.editors["accent"].property("line_edit").setText("#00ff00")
    assert editor.overrides() == {"title": "Bonjour", "size": 5, "show": False, "mood": "loud", "accent": "#00ff00"}


def test_node_dialog_and_host_key_dialog(qtbot):
    d = NodeDialog(taken=("n1",))
    qtbot.addWidget(d)
    d.host.setText("10.0.0.7")
    d.name.setText("n1")
    d._accept()
    assert "exists already" in d.error.text()
    d.name.setText("render-2")
    d.user.setText("render")
    d.slots.setValue(4)
    d.env.setText("HYPERDESK_CACHE_DIR=/srv/cache")
    d.command.setText("/opt/hd/bin/python -m hyperdesk")
    cfg = d.config()
    assert (cfg.name, cfg.host, cfg.port, cfg.user, cfg.slots) == ("render-2", "10.0.0.7", 22, "render", 4)
    assert cfg.remote_command == ["/opt/hd/bin/python", "-m", "hyperdesk"]
    assert cfg.remote_env == {"HYPERDESK_CACHE_DIR": "/srv/cache"}
    edit = NodeDialog(node=cfg, taken=("render-2",))
    qtbot.addWidget(edit)
    assert edit.config() == cfg  # editing keeps every field
    h = HostKeyDialog("render-2", "render@10.0.0.7:22", "SHA256:abcdef")
    qtbot.addWidget(h)
    assert h.fingerprint_label.text() == "SHA256:abcdef"
    assert h.buttons.button(QDialogButtonBox.StandardButton.Cancel).isDefault()  # Enter does not trust
    report = {"hyperdesk_version": "0.1.0", "browser_version": "156.0", "ffmpeg_identity": "n9.0.2",
              "platform": {"cpu_count": 8}}
    assert preflight_summary(report, None) == "hyperdesk 0.1.0 · Chromium 156.0 · ffmpeg n9.0.2 · 8 cores · compatible"
    assert preflight_summary(report, "ffmpeg differs").endswith("incompatible: ffmpeg differs")


def test_nodes_panel_add_edit_remove(make_window, store, qtbot, monkeypatch):
    service = RenderService(store)
    tested = []

    async def fake_test(name, *, accept_fingerprint=None):  # no network in this test
        tested.append(name)
        return {}

    w = make_window(service)
    monkeypatch.setattr(w.node_actions, "test", fake_test)
    service.save_node(NodeConfig(name="n1", host="127.0.0.9", slots=2))
    w.refresh_nodes()
    assert [r.name for r in w.nodes_model.rows] == ["local", "n1"]
    w.nodes_panel.select("n1")
    assert w.nodes_panel.edit_button.isEnabled()
    name_cell = w.nodes_model.index(1, 0)
    assert name_cell.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    w.nodes_model.setData(name_cell, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert w.enabled_nodes() == [] and w.settings.value("disabled_nodes") in (["n1"], "n1")
    w.nodes_model.setData(name_cell, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert [n.name for n in w.enabled_nodes()] == ["n1"]
    qtbot.mouseClick(w.nodes_panel.edit_button, Qt.MouseButton.LeftButton)
    d = w.node_dialog
    d.name.setText("n2")
    d.slots.setValue(3)
    qtbot.mouseClick(d.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tested == ["n2"], timeout=5000)
    assert [n.name for n in store.list_nodes()] == ["n2"] and store.get_node("n2").slots == 3
    w.nodes_panel.select("n2")
    qtbot.mouseClick(w.nodes_panel.remove_button, Qt.MouseButton.LeftButton)
    assert store.list_nodes() == [] and [r.name for r in w.nodes_model.rows] == ["local"]
    w.nodes_panel.local_workers.setValue(3)
    assert w.nodes_model.row_named("local").slots == 3
    assert int(w.settings.value("local_workers")) == 3


def test_layout_and_settings_survive_a_restart(make_window, store, qtbot, gui_settings):
    w = make_window(RenderService(store))
    w.resize(1250, 820)
    w.docks["history"].raise_()
    w.docks["preview"].hide()
    w.job_view.table.setColumnWidth(11, 333)
    qtbot.wait(50)
    w.close()
    qtbot.waitUntil(lambda: w.closed_event.is_set(), timeout=10000)
    w2 = make_window(RenderService(store), settings=gui_settings)
    qtbot.wait(50)
    assert gui_settings.value("window/geometry") is not None  # (offscreen clamps sizes to its small screen)
    assert not w2.docks["preview"].isVisible()
    assert w2.job_view.table.columnWidth(11) == 333


def test_shortcuts_exist_for_the_common_actions(make_window, store):
    w = make_window(RenderService(store))
    keys = {a: w.actions_by_id[a].shortcut().toString() for a in
            ("open", "render", "pause", "resume", "cancel", "retry_failed", "rerender", "assemble", "quit")}
    assert keys == {"open": "Ctrl+O", "render": "Ctrl+R", "pause": "Ctrl+P", "resume": "Ctrl+Shift+P",
                    "cancel": "Ctrl+.", "retry_failed": "Ctrl+Shift+R", "rerender": "Ctrl+E",
                    "assemble": "Ctrl+Shift+A", "quit": "Ctrl+Q"}
    assert all(not w.actions_by_id[a].isEnabled() for a in ("render", "pause", "cancel", "assemble"))
    assert "Ctrl+R" in w.shortcuts_text()


def test_open_missing_composition_says_so(make_window, store):
    w = make_window(RenderService(store))
    w.open_composition("/nonexistent/comp.html")
    assert w.composition is None
    assert "COMPOSITION_NOT_FOUND" in w.statusBar().currentMessage()


def test_command_line_offers_the_gui(monkeypatch):
    import hyperdesk.gui.app as app
    from hyperdesk.cli import build_parser, main

    calls = []
    monkeypatch.setattr(app, "run_gui", lambda composition=None, **_kw: calls.append(composition) or 0)
    args = build_parser().parse_args(["gui", "/tmp/c.html"])
    assert args.composition == "/tmp/c.html"
    assert main(["gui", "/tmp/c.html"]) == 0
    assert main([]) == 0  # no arguments: the desktop app
    assert calls == ["/tmp/c.html", None]


def test_hyperdesk_gui_starts_and_closes_on_sigint(tmp_path):
    """`hyperdesk gui COMPOSITION` as a user starts it: window up, Ctrl+C closes it cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from compositions import write_tiny

    comp = write_tiny(tmp_path / "tiny")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HYPERDESK_DATA_DIR=str(tmp_path / "data"),
               HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.Popen([sys.executable, "-m", "hyperdesk", "gui", str(comp)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(4)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # the window saved its layout and the composition went into the recent list
    ini = next((tmp_path / "config").rglob("hyperdesk.conf"))
    assert str(comp) in ini.read_text()


def test_cancel_while_planning_stops_the_planner(make_window, store, qtbot, tmp_path, data_dir):
    from compositions import write_tiny
    from test_e2e import processes_mentioning

    from hyperdesk.dirs import plan_cache_dir

    comp = write_tiny(tmp_path / "tiny")
    w = make_window(RenderService(store), probe_thumbnail=False)
    w.nodes_panel.local_workers.setValue(1)
    w.open_composition(str(comp))
    qtbot.waitUntil(lambda: w.facts is not None and w.facts.ok, timeout=120_000)
    w.settings_panel.chunk.setValue(6)  # another plan than the one the composition panel made: planned anew
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: bool(processes_mentioning("hyperdesk.service.child")), timeout=30_000)
    assert w.job_state == "planning" and w.actions_by_id["cancel"].isEnabled()
    w.actions_by_id["cancel"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "cancelled", timeout=30_000)
    qtbot.waitUntil(lambda: not processes_mentioning("hyperdesk.service.child"), timeout=15_000)
    assert not list(plan_cache_dir().glob("*.partial.*"))  # the planner cleaned up after SIGINT
    assert store.list_jobs() == [] and w.actions_by_id["render"].isEnabled()


def test_history_marks_a_job_rendered_with_missing_assets(qtbot):
    from PySide6.QtCore import Qt as _Qt

    from hyperdesk.gui.history import HistoryModel, HistoryRow

    urls = ("https://assets.invalid/a.png", "https://assets.invalid/b.css")
    model = HistoryModel()
    model.set_rows([HistoryRow(job_id="j1", state="done", created_at=0, updated_at=1, output="/o.mp4",
                               composition="/c/index.html", chunks_done=1, chunk_count=1, missing_assets=urls),
                    HistoryRow(job_id="j2", state="done", created_at=0, updated_at=1, output="/p.mp4",
                               composition="/c/index.html", chunks_done=1, chunk_count=1)])
    assert model.data(model.index(0, 2)) == "done · 2 missing asset(s)"
    assert model.data(model.index(0, 2), _Qt.ItemDataRole.ToolTipRole) == "rendered without:\n" + "\n".join(urls)
    assert model.data(model.index(1, 2)) == "done"
