"""What the user does with jobs — render, pause, resume, cancel, retry chunks (optionally elsewhere),
assemble, preview — and the job state the window shows, kept from the service's events.

Every action calls the render service (hyperdesk.service), the same API the command line uses;
nothing here touches a controller or a scheduler.
"""
from __future__ import annotations

import asyncio
import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QSystemTrayIcon

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm import events as fe
from hyperdesk.gui.actions import ActionSpec
from hyperdesk.gui.chunk_model import rows_from_records
from hyperdesk.gui.history import play_output, reveal_output
from hyperdesk.gui.job_view import job_detail_text
from hyperdesk.gui.settings_panel import load_settings, save_settings
from hyperdesk.gui.theme import fmt_duration, state_color
from hyperdesk.models import PlanManifest
from hyperdesk.service import FarmRequest, RenderService

if TYPE_CHECKING:
    from hyperdesk.gui.main_window import MainWindow

ACTIVE = ("planning", "running", "pausing", "paused", "assembling")


@dataclass
class AssembleOutcome:
    """The last assembly the window saw: verified (`result`, an AssembleResult's JSON) or not (`error`)."""

    ok: bool
    output: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


JOB_ACTIONS: list[ActionSpec] = [
    ActionSpec("render", "&Render", "Ctrl+R", "Plan the composition and render it on the workers and nodes",
               "start_render", "can_render", True),
    ActionSpec("pause", "&Pause", "Ctrl+P", "Start no new chunk; the running chunks finish", "pause_job", "can_pause",
               True),
    ActionSpec("resume", "Res&ume", "Ctrl+Shift+P", "Continue a paused job, or resume one from the history",
               "resume_job", "can_resume", True),
    ActionSpec("cancel", "&Cancel", "Ctrl+.", "Stop every running chunk and end the job", "cancel_job", "can_cancel",
               True),
    ActionSpec("retry_failed", "Retry &failed chunks", "Ctrl+Shift+R", "Render every failed chunk again",
               "retry_failed", "can_retry_failed", True),
    ActionSpec("rerender", "Re-render &selected", "Ctrl+E", "Render the selected chunks again", "rerender_selected",
               "has_selection"),
    ActionSpec("retry_elsewhere", "Retry selected on &another node", "Ctrl+Shift+E",
               "Render the selected chunks again, avoiding the node that last ran them", "retry_selected_elsewhere",
               "has_selection"),
    ActionSpec("assemble", "&Assemble now", "Ctrl+Shift+A",
               "Stitch the finished chunks into the output and verify it (done automatically at the end)",
               "assemble_job", "can_assemble", True),
    ActionSpec("preview", "Pre&view output", "Ctrl+Shift+V", "Show the assembled output in the player",
               "show_preview", None, True),
    ActionSpec("reveal_output", "Reveal ou&tput", "Ctrl+Shift+O", "Show the finished output's folder in the file "
               "manager", "reveal_output", "has_output", True),
    ActionSpec("play_output", "P&lay", "Ctrl+Shift+L", "Play the finished output in the desktop's video player",
               "play_output", "has_output", True),
]


class JobActions(QObject):
    def __init__(self, window: MainWindow, service: RenderService) -> None:
        super().__init__(window)
        self.w = window
        self.service = service
        self.job_id: str | None = None
        self.job_state = ""
        self.job_output = ""
        self.job_fps = 30.0
        self.job_total_frames = 0
        self.job_error: dict[str, Any] | None = None
        self.job_name = ""
        self.assemble_result: AssembleOutcome | None = None

    # ---- the request -------------------------------------------------------------------------------

    def current_request(self, composition: str) -> Any:
        w = self.w
        s = w.settings_panel.settings() if w.settings_panel.isEnabled() else load_settings(w.settings, composition)
        s.variables = w.composition_panel.variables.overrides() if w.composition_panel.variables.decls \
            else load_settings(w.settings, composition).variables
        enabled = w.node_actions.enabled_nodes()
        farm = FarmRequest(local=w.node_actions.local_workers(), nodes=[n.name for n in enabled if not n.scheduler],
                           dask=[n.name for n in enabled if n.scheduler])
        return s.request(composition, farm)

    @property
    def active(self) -> bool:
        """This window's job is being planned or rendered in this process."""
        return bool(self.job_id) and self.service.is_live(self.job_id or "")

    # ---- actions -----------------------------------------------------------------------------------

    def prepared_request(self, what: str = "render") -> Any:
        """The request of the panels for the open composition, its output folder made and the settings
        saved; None (the error shown) when it cannot be made."""
        w = self.w
        if w.composition is None:
            return None
        s = w.settings_panel.settings()
        if not s.output:
            w.show_error({"code": "OUTPUT_NOT_WRITABLE", "message": "choose an output path"}, what)
            return None
        request = self.current_request(w.composition)
        try:  # the app makes the output's folder (its default is <project>/renders/); the CLI wants one that exists
            Path(request.output).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            w.show_error({"code": "OUTPUT_NOT_WRITABLE", "message": f"cannot create {Path(request.output).parent}: "
                                                                      f"{exc.strerror or exc}"}, what)
            return None
        s.variables = dict(request.config.variables)
        save_settings(w.settings, w.composition, s)
        return request

    def start_render(self) -> Any:
        w = self.w
        if not self.can_render() or w.composition is None:
            return None
        request = self.prepared_request()
        if request is None:
            return None
        self.job_name = request.name
        w.job_view.set_job(f"Planning {self.job_name}…", "planning", tooltip=w.composition)
        self.job_error = None
        self.assemble_result = None
        w.preview.set_output(None, note="rendering: the output plays here when it is assembled")
        w.preview.set_verification("")  # the last job's "verified" line is not this job's
        w.preview.seams.set_thumbs([])
        w.job_view.set_live_frame(None)
        job_id = self.service.new_job_id()
        self.job_id = job_id
        self.job_state = "planning"
        return w.spawn(self._start(request, job_id), "render")

    async def _start(self, request: Any, job_id: str) -> None:
        try:
            await self.service.start(request, job_id=job_id)
        except HyperdeskError as err:
            if self.job_id == job_id and self.job_state == "planning":
                self.job_state = "failed"
                self.job_error = err.to_dict()
            raise

    def pause_job(self) -> None:
        if self.job_id:
            self.w.spawn(self.service.pause(self.job_id), "pause")

    def resume_job(self) -> None:
        if self.job_id and self.job_state in ("paused", "pausing") and self.active:
            self.w.spawn(self.service.resume(self.job_id), "resume")
            return
        job = self.job_id
        row = self.w.history_panel.selected()
        if not job or self.job_state not in ("running", "failed", "cancelled") or self.active:
            job = row.job_id if row is not None and row.resumable else job
        if job:
            self.w.spawn(self.resume_stored(job), "resume")

    async def resume_stored(self, job_id: str) -> None:
        self.job_error = None
        await self.service.resume(job_id, local=self.w.node_actions.local_workers())

    def cancel_job(self) -> None:
        if self.job_id:
            self.w.spawn(self.service.cancel(self.job_id), "cancel")

    async def retry(self, indices: list[int], avoid: str | None = None) -> None:
        if not self.job_id:
            return
        self.job_error = None
        await self.service.retry_chunks(self.job_id, indices, avoid_node=avoid)
        self.w.statusBar().showMessage(f"queued chunk(s) {', '.join(map(str, indices))} again", 8000)

    def retry_failed(self) -> None:
        if self.job_id:
            self.w.spawn(self._retry_failed(self.job_id), "retry")

    async def _retry_failed(self, job_id: str) -> None:
        """Retry the failed chunks on the same plan, unless the composition changed since it was planned:
        then the banner offers a re-plan (or the old plan, for a bad node)."""
        if not self.active and await self._sources_changed(job_id):
            self._offer_replan(job_id, retry_offered=True)
            return
        self.job_error = None
        await self.service.retry_chunks(job_id)

    # ---- after a fix: the composition changed since the job was planned ------------------------------

    async def _sources_changed(self, job_id: str) -> bool:
        return bool(await asyncio.to_thread(self.service.sources_changed, job_id))

    def check_sources(self) -> None:
        """Offer a re-plan when the viewed job's composition changed since it was planned."""
        job_id = self.job_id
        if job_id and self.job_state in ("failed", "cancelled", "interrupted") and not self.active:
            self.w.spawn(self._check_sources(job_id), "check")

    async def _check_sources(self, job_id: str) -> None:
        if await self._sources_changed(job_id) and self.job_id == job_id and not self.active:
            self._offer_replan(job_id)

    def _offer_replan(self, job_id: str, retry_offered: bool = False) -> None:
        banner = self.w.banner
        if not retry_offered and banner.isVisible() and f"since job {job_id} " in banner.label.text() \
                and banner.button("Retry the old plan") is not None:
            return  # a slower check of the same job must not take the Retry's button away
        actions: list[tuple[str, Any]] = [("Re-plan and render", lambda: self.replan(job_id))]
        if retry_offered:
            actions.append(("Retry the old plan", lambda: self.w.spawn(self.service.retry_chunks(job_id), "retry")))
        self.w.banner.show_message(
            f"The composition's files changed since job {job_id} was planned: a retry would render the old "
            "composition. Re-plan to render the files as they are now.", actions)

    def replan(self, job_id: str) -> None:
        """A new job from the same settings, planned from the files as they are now (shown when it starts)."""
        self.job_error = None
        self.assemble_result = None
        self.w.preview.set_output(None)
        self.w.spawn(self.service.replan(job_id), "render")

    def rerender_selected(self) -> None:
        rows = self.w.job_view.selected_rows()
        if rows:
            self.w.spawn(self.retry([r.index for r in rows]), "retry")

    def retry_selected_elsewhere(self) -> None:
        for r in self.w.job_view.selected_rows():
            node = (r.error or {}).get("node") or r.node
            self.w.spawn(self.retry([r.index], node or None), "retry")

    def assemble_job(self) -> None:
        if self.job_id:
            self.w.spawn(self.service.assemble(self.job_id), "assemble")

    def show_preview(self) -> None:
        w = self.w
        w.docks["preview"].show()
        w.docks["preview"].raise_()
        if self.job_output and not w.preview.source:
            w.preview.set_output(self.job_output, self.job_fps, self.job_total_frames)

    def reveal_output(self) -> None:
        if self.has_output():
            reveal_output(self.job_output)

    def play_output(self) -> None:
        if self.has_output():
            play_output(self.job_output)

    # ---- enablement --------------------------------------------------------------------------------

    def has_output(self) -> bool:
        """The shown job is done and its output is on this machine."""
        return self.job_state == "done" and bool(self.job_output) and os.path.exists(self.job_output)

    def can_render(self) -> bool:
        w = self.w
        has_workers = w.node_actions.local_workers() > 0 or bool(w.node_actions.enabled_nodes())
        return bool(w.composition) and not self.active and has_workers and (w.facts is None or w.facts.ok)

    def can_pause(self) -> bool:
        return self.active and self.job_state == "running"

    def can_resume(self) -> bool:
        if self.job_state in ("paused", "pausing") and self.active:
            return True
        row = self.w.history_panel.selected()
        return not self.active and ((row is not None and row.resumable) or
                                    (bool(self.job_id) and self.job_state in ("running", "failed", "cancelled")))

    def can_cancel(self) -> bool:
        return self.active

    def can_retry_failed(self) -> bool:
        return bool(self.job_id) and self.w.model.counts().get("failed", 0) > 0 and \
            self.job_state not in ("planning", "assembling")

    def has_selection(self) -> bool:
        return bool(self.job_id) and self.w.job_view.current_row() is not None and \
            self.job_state not in ("planning", "assembling")

    def can_assemble(self) -> bool:
        """Every chunk done and its file still here (kept, or the job stopped before assembling)."""
        rows = self.w.model.rows
        if not (self.job_id and rows and self.job_state not in ACTIVE and all(r.state == "done" for r in rows)):
            return False
        return all(r.output_path and os.path.exists(r.output_path) for r in rows)

    # ---- showing a stored job ------------------------------------------------------------------------

    def open_job(self, job_id: str) -> None:
        """Show a stored job (from the history) in the job view, without running it."""
        w = self.w
        if self.active and self.job_id != job_id:
            w.statusBar().showMessage("a job is running: its view stays until it ends", 8000)
            return
        job = self.service.job(job_id)
        if job is None:
            return
        if job.id != self.job_id:
            w.job_view.set_live_frame(None)
        self.job_id = job.id
        self.job_output = job.output
        self.job_fps, self.job_total_frames = self._plan_facts(job.plan_dir)
        self._load_rows(job.id)
        w.inspector.show_row(None, job.id)
        self._set_header(job.id, job.state, str((job.spec or {}).get("composition", "")), job.output)
        self.job_state = job.state
        self.job_error = job.error
        if job.error:
            self._show_job_error(job.error)
        if job.result:
            self._show_assembled(AssembleOutcome(True, output=job.output, result=job.result))
        w.banner.hide()
        self.check_sources()
        w.update_actions()

    @staticmethod
    def _plan_facts(plan_dir: str) -> tuple[float, int]:
        """(fps, total frames) from a job's plan, (30, 0) when the plan is gone."""
        try:
            m = PlanManifest.model_validate_json((Path(plan_dir) / "plan.json").read_text())
            return m.fps.num / m.fps.den, m.total_frames
        except (OSError, ValueError):
            return 30.0, 0

    def _load_rows(self, job_id: str) -> None:
        store = self.service.store
        job = store.find_job(job_id)
        if job is None:
            return
        self.w.model.job_id = job.id
        self.w.model.load_rows(rows_from_records(job, store.chunks(job.id), store.attempts(job.id),
                                                 live=self.service.is_live(job.id)))

    # ---- events ------------------------------------------------------------------------------------

    def on_event(self, e: fe.Event) -> None:
        """A job event of the service: the job's state, header, errors and output."""
        w = self.w
        job_id = getattr(e, "job_id", None)
        if job_id is None:
            return
        if job_id != self.job_id:
            if not isinstance(e, (fe.JobPlanning, fe.JobStarted)) or self.active:
                return
            self.job_id = job_id  # a job this window did not start (a resume elsewhere in the app): shown now
        if isinstance(e, fe.JobPlanning):
            self._state("planning")
        elif isinstance(e, fe.JobPlanned):
            w.statusBar().showMessage(f"plan {e.plan_hash[:12]} ({'reused' if e.reused else 'new'}, "
                                      f"{e.plan_seconds:.1f} s): {e.total_frames} frames in {e.chunk_count} chunks",
                                      10000)
        elif isinstance(e, fe.JobStarted):
            self.job_output = e.output
            self.job_fps = e.fps
            self.job_total_frames = e.total_frames
            self._load_rows(e.job_id)
            w.inspector.show_row(None, e.job_id)
            self._set_header(e.job_id, "running", e.composition or (w.composition or ""), e.output)
            self._state("running")
            if e.resumed and e.kept_chunks:
                w.statusBar().showMessage(f"resumed: {len(e.kept_chunks)} chunk(s) kept, their files still verify",
                                          10000)
            w.refresh_history()
        elif isinstance(e, fe.PlanTransferred):
            w.statusBar().showMessage(f"plan sent to {e.node}: {e.files_uploaded}/{e.files_total} files, "
                                      f"{e.bytes_uploaded} bytes in {e.seconds:.1f} s", 10000)
        elif isinstance(e, fe.AttemptFailed) and e.final and w.job_view.current_row() is None:
            QTimer.singleShot(0, lambda i=e.chunk_index: w.job_view.select_chunk(i))
        elif isinstance(e, fe.JobPaused):
            self._state("pausing" if e.running else "paused")
        elif isinstance(e, fe.JobResumed):
            self._state("running")
        elif isinstance(e, fe.AssembleStarted):
            w.preview.set_verification("Assembling and verifying the output…")
            self._state("assembling")
        elif isinstance(e, fe.JobDone):
            self._show_assembled(AssembleOutcome(True, output=e.output, result=e.result))
            self._state("done")
        elif isinstance(e, fe.JobFailed):
            err = e.error()
            if e.stage == "assembling" or self.job_state == "assembling":
                self._show_assembled(AssembleOutcome(False, output=self.job_output, error=err))
            self.job_error = err
            self._state("failed")
        elif isinstance(e, fe.JobCancelled):
            self._state("cancelled")

    def _state(self, state: str) -> None:
        w = self.w
        prev = self.job_state
        self.job_state = state
        if state == "planning":
            return
        if state == "cancelled" and prev == "planning":
            w.job_view.set_job("Planning cancelled", "cancelled")
        elif state == "failed":
            w.job_view.set_state("failed")
            self._show_job_error(self.job_error or {})
            err = self.job_error or {}
            w.notify("Render failed", f"{self.job_name or 'the job'}: {err.get('code')}: {err.get('message', '')}",
                     QSystemTrayIcon.MessageIcon.Critical)
            failed = next((r for r in w.model.rows if r.state == "failed"), None)
            if failed is not None:
                w.job_view.select_chunk(failed.index)
                w.docks["inspector"].raise_()
        elif state == "done":
            w.job_view.set_state("done")
            took = w.model.summary().get("elapsed")
            w.notify("Render finished", f"{self.job_name or 'the job'}: {Path(self.job_output).name} is ready"
                     + (f" ({fmt_duration(took)})" if took else ""), QSystemTrayIcon.MessageIcon.Information)
        else:
            w.job_view.set_state(state)
            if state == "running" and prev in ("failed", "cancelled", "done"):
                w.job_view.set_detail(job_detail_text(w.model.summary()))
        if state in ("done", "failed", "cancelled"):
            w.model.flush()
            w.refresh_history()
        if state in ("failed", "cancelled"):
            self.check_sources()
        w.update_actions()

    def _set_header(self, job_id: str, state: str, composition: str, output: str) -> None:
        job = self.service.job(job_id)
        name = (job.name if job is not None and job.name else "") or (Path(composition).name if composition else "job")
        self.job_name = name
        self.w.job_view.set_job(f"{name} → {output}", state,
                                tooltip=f"{name}\ncomposition: {composition}\noutput: {output}\njob {job_id}")

    def _show_job_error(self, err: dict[str, Any]) -> None:
        hint = err.get("hint")
        self.w.job_view.set_detail(f"<b style='color:{state_color('failed').name()}'>{err.get('code')}</b>: "
                                   f"{err.get('message', '')}" + (f"<br><i>hint:</i> {hint}" if hint else ""))

    def _show_assembled(self, outcome: AssembleOutcome) -> None:
        w = self.w
        self.assemble_result = outcome
        if outcome.ok and outcome.result:
            r = outcome.result
            text = (f"<b style='color:{state_color('done').name()}'>verified</b>: {r.get('frames')} frames, "
                    f"{float(r.get('duration_s', 0)):.3f} s, {r.get('size_bytes', 0)} bytes, "
                    f"sha256 <code>{str(r.get('sha256', ''))[:16]}…</code>")
            for warning in r.get("warnings") or []:
                text += f"<br>warning {warning.get('code')}: {warning.get('message')}"
            missing = r.get("missing_assets") or []
            if missing:
                text += (f"<br><b style='color:{state_color('failed').name()}'>rendered with {len(missing)} missing "
                         f"asset(s)</b>: " + ", ".join(html.escape(str(u)) for u in missing))
            w.preview.set_verification(text)
            w.preview.verification.setToolTip(str(r.get("sha256", "")))
            self.job_output = outcome.output or self.job_output
            w.job_view.set_detail(f"Output {self.job_output} — " + text)
            w.preview.set_output(self.job_output, self.job_fps, self.job_total_frames)
            w.spawn(w.refresh_seams(), "seams")
        else:
            err = outcome.error or {}
            w.preview.set_verification(f"<b style='color:{state_color('failed').name()}'>{err.get('code')}</b>: "
                                       f"{err.get('message', '')}")
