"""Saved Dask clusters and their workers in the nodes panel (no cluster needed: the model and the dialog)."""
from __future__ import annotations

from PySide6.QtCore import Qt

from hyperdesk.farm import events as fe
from hyperdesk.gui.nodes_panel import NodeDialog, NodesModel, cluster_summary
from hyperdesk.store.models import NodeConfig, NodeRecord


def test_a_saved_cluster_and_its_workers_show_like_nodes(qtbot):
    model = NodesModel()
    lab = NodeRecord(name="lab", host="10.0.0.5", port=8786, scheduler="tcp://10.0.0.5:8786")
    model.set_configured([lab])
    row = model.row_named("lab")
    assert row is not None and row.kind == "dask" and row.saved
    assert model.index(0, 1).data() == "tcp://10.0.0.5:8786"
    assert model.index(0, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked  # switchable
    assert model.index(0, 5).data() == "Dask cluster, not tested"
    # What a test found: shown with the cluster's slots.
    row.workers = [{"name": "lab/w1", "slots": 2, "state": "online"}, {"name": "lab/w2", "slots": 1,
                                                                          "state": "incompatible"}]
    model.set_node_state("lab", "online", address=lab.address, slots=2, kind="dask")
    assert model.index(0, 5).data() == "Dask cluster: 2 render workers, 2 slots, 1 incompatible"
    # During a job each Dask worker is a node of its own, with its chunks.
    model.apply(fe.NodeStateChanged(job_id="j", node="lab/w1", kind="dask", state="online", slots=2,
                                    address="tcp://10.0.0.7:40001"))
    model.apply(fe.AttemptStarted(job_id="j", chunk_index=0, attempt_id="j-c0-a1", node="lab/w1", number=1,
                                  frames_total=10))
    worker = model.row_named("lab/w1")
    assert worker is not None and worker.kind == "dask" and not worker.saved
    assert worker.display_state == "busy" and model.index(1, 2).data() == "1/2"
    # Reloading the saved entries keeps the job's worker rows.
    model.set_configured([lab])
    assert [r.name for r in model.rows] == ["lab", "lab/w1"]
    assert cluster_summary(None, "NODE_UNREACHABLE: no scheduler").startswith("Dask cluster: NODE_UNREACHABLE")


def test_the_node_dialog_saves_a_dask_scheduler_address(qtbot):
    dialog = NodeDialog(None)
    qtbot.addWidget(dialog)
    dialog.name.setText("lab")
    dialog.host.setText("tcp://10.0.0.5:8786")
    cfg = dialog.config()
    assert cfg.scheduler == "tcp://10.0.0.5:8786" and cfg.kind == "dask" and cfg.port == 8786
    edit = NodeDialog(None, cfg)
    qtbot.addWidget(edit)
    assert edit.host.text() == "tcp://10.0.0.5:8786"
    dialog.host.setText("tcp://nope")
    dialog._accept()
    assert "not a Dask scheduler address" in dialog.error.text()
    assert NodeConfig(name="n", host="h").kind == "ssh"
