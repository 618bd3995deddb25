"""assemble(): verify every chunk, stitch, fit and mux the audio, verify the output (plan-contract.md 10)."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Iterable

from hyperdesk import __version__
from hyperdesk.dirs import OWNER_FILE, abandoned, claim
from hyperdesk.encode.assembly import concat_mux, verify_output
from hyperdesk.encode.audio import SILENCE_BYTES_S, fit_audio, write_silence
from hyperdesk.encode.ffmpeg import ffmpeg_identity as own_identity
from hyperdesk.encode.probe import decode_check
from hyperdesk.errors import HyperdeskError, disk_full, free_bytes, is_disk_full
from hyperdesk.plan.hashing import frame_dir_hash, sha256_file
from hyperdesk.models import AssembleResult, AssembleTimings, ChunkResult, ResultWarning
from hyperdesk.plan.paths import check_planned_output
from hyperdesk.plan.sequence_record import RecordedFile, SequenceRecord, check_replaceable, write_record
from hyperdesk.plan.verify import LoadedPlan, load_plan


_WORK_NAME = re.compile(r"^.+\.(assemble|partial)\.[0-9a-f]{8}$")


def sweep_assembly_leftovers(folder: Path) -> list[Path]:
    """Remove the assembly work folders (`<out>.assemble.<hex>`, a sequence's `<out>.partial.<hex>`)
    that a process which no longer runs (kill -9 mid-assembly) left in `folder`: only folders that
    record a hyperdesk owner, never anything else with a similar name."""
    removed: list[Path] = []
    try:
        children = list(Path(folder).iterdir())
    except OSError:
        return removed
    for child in children:
        if _WORK_NAME.match(child.name) and child.is_dir() and not child.is_symlink() and abandoned(child):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000.0, 1)


def check_chunk_results(loaded: LoadedPlan, results: Iterable[ChunkResult]) -> list[ChunkResult]:
    """10.1 steps 2 and 3: one valid result per chunk, every output present and hashing right."""
    by_index: dict[int, ChunkResult] = {}
    want_kind = "frame-dir" if loaded.encoder.format == "png-sequence" else "file"
    for given in results:
        if given.chunk_index in by_index:
            raise HyperdeskError("CHUNK_RESULT_INVALID", f"two results for chunk {given.chunk_index}",
                                 details={"chunk_index": given.chunk_index})
        by_index[given.chunk_index] = given
    ordered: list[ChunkResult] = []
    for sl in loaded.chunks.chunks:
        r = by_index.pop(sl.index, None)
        if r is None:
            raise HyperdeskError("CHUNK_RESULT_INVALID", f"no result for chunk {sl.index}",
                                 details={"chunk_index": sl.index})
        problems = []
        if r.plan_hash != loaded.manifest.plan_hash:
            problems.append("plan_hash differs")
        if (r.start_frame, r.end_frame) != (sl.start_frame, sl.end_frame):
            problems.append(f"frames {r.start_frame}-{r.end_frame} != {sl.start_frame}-{sl.end_frame}")
        if r.frames_encoded != sl.end_frame - sl.start_frame:
            problems.append(f"frames_encoded {r.frames_encoded}")
        if r.output_kind != want_kind:
            problems.append(f"output_kind {r.output_kind}")
        if problems:
            raise HyperdeskError("CHUNK_RESULT_INVALID", f"chunk {sl.index} result is invalid: {'; '.join(problems)}",
                                 details={"chunk_index": sl.index, "problems": problems})
        ordered.append(r)
    if by_index:
        extra = sorted(by_index)
        raise HyperdeskError("CHUNK_RESULT_INVALID", f"results for chunks not in the plan: {extra}",
                             details={"chunk_index": extra[0]})
    for r in ordered:
        path = Path(r.output_path)
        if not path.exists():
            raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"chunk {r.chunk_index} output is missing: {path}",
                                 details={"chunk_index": r.chunk_index, "path": str(path)})
        digest = frame_dir_hash(path)[0] if r.output_kind == "frame-dir" else sha256_file(path)
        if digest != r.sha256:
            raise HyperdeskError("OUTPUT_HASH_MISMATCH",
                                 f"chunk {r.chunk_index} hashes to {digest[:12]}…, its result says {r.sha256[:12]}…",
                                 details={"chunk_index": r.chunk_index, "path": str(path),
                                          "expected": r.sha256, "computed": digest})
    return ordered


def _tree_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def check_space(ordered: list[ChunkResult], audio_bytes: int, out: Path, *, links: bool) -> int:
    """DISK_FULL before any work when the output's folder cannot hold the output: its size is the sum
    of the chunks' and the audio track's (twice: the fitted copy is written beside the output); a
    png-sequence on the chunks' own disk links its frames instead of copying them. Returns the bytes
    needed."""
    folder = out.parent
    needed = 2 * audio_bytes
    for r in ordered:
        src = Path(r.output_path)
        if links and src.stat().st_dev == folder.stat().st_dev:
            continue
        needed += _tree_bytes(src)
    free = free_bytes(folder)
    if free is not None and needed > free:
        raise disk_full(folder, needed=needed, what="assembling")
    return needed


def _place_sequence(partial: Path, out: Path, *, overwrite: bool, digests: dict[str, str]) -> None:
    """Move a verified frame folder to `out` with its record (plan/sequence_record.py). Never deletes a
    folder, nor any file an earlier render did not record with the bytes it still has."""
    new = {name: RecordedFile(size=(partial / name).stat().st_size, sha256=digests[name]) for name in sorted(digests)}
    if not out.exists():
        write_record(partial, SequenceRecord(files=new))
        os.rename(partial, out)
        return
    if not out.is_dir():
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"{out} exists and is not a folder",
                             details={"path": str(out)})
    others = sorted(p.name for p in out.iterdir())
    if others and not overwrite:
        raise HyperdeskError("OUTPUT_EXISTS", f"the output folder {out} is not empty",
                             details={"path": str(out), "entries": others[:10]})
    earlier = check_replaceable(out)  # every clash refused before the first file moves
    # While the files move, the record accepts each name's old and new bytes: a render killed
    # halfway leaves a folder the next --overwrite still recognises.
    write_record(out, SequenceRecord(files=earlier, replacing=new))
    for name in new:
        os.replace(partial / name, out / name)
    for name in sorted(set(earlier) - set(new)):  # an earlier render's frames past the new last one
        (out / name).unlink(missing_ok=True)
    write_record(out, SequenceRecord(files=new))
    partial.rmdir()


def assemble(plan_dir: Path | str, chunk_results: Iterable[ChunkResult], out: Path | str, *,
             ffmpeg_identity: str | None = None, overwrite: bool = False,
             project: Path | str | None = None) -> AssembleResult:
    """Stitch and verify; the output appears only once verified. A png-sequence goes into a new or
    empty folder, or with `overwrite` into a folder whose recorded frame files it replaces (nothing
    else in that folder is touched). The output gate refuses again any file the plan says the
    composition reads, in `project` (default: the folder the plan was made from)."""
    t0 = time.monotonic()
    loaded = load_plan(plan_dir)
    identity = ffmpeg_identity or own_identity()
    if identity != loaded.manifest.worker_env.ffmpeg_identity:
        wanted = loaded.manifest.worker_env.ffmpeg_identity
        raise HyperdeskError("FFMPEG_VERSION_MISMATCH", f"this machine's ffmpeg is {identity}, the plan needs {wanted}",
                             details={"worker": identity, "plan": wanted})
    out = check_planned_output(out, loaded, overwrite=overwrite, project=project)
    sweep_assembly_leftovers(out.parent)
    ordered = check_chunk_results(loaded, chunk_results)
    verify_inputs_ms = _ms(t0)
    cfg = loaded.encoder
    fps = cfg.fps
    total = loaded.chunks.total_frames
    target_s = total * fps.den / fps.num
    modes: list[str] = sorted({r.capture_mode for r in ordered})
    warnings = []
    if len(modes) > 1:
        warnings.append(ResultWarning(
            code="MIXED_CAPTURE_MODES",
            message=f"chunks were captured in modes {', '.join(modes)} (identical bytes by contract)"))
    # A plan without audio has no audio.m4a: its silent track is made here, the same bytes the
    # planner used to write (the output keeps its audio track).
    planned_audio = loaded.plan_dir / "audio.m4a"
    has_audio = cfg.include_audio
    audio_bytes = 0
    if has_audio:
        audio_bytes = planned_audio.stat().st_size if planned_audio.is_file() else int(target_s * SILENCE_BYTES_S)
    check_space(ordered, audio_bytes, out, links=cfg.format == "png-sequence")

    def audio_source(folder: Path) -> Path:
        if planned_audio.is_file():
            return planned_audio
        silence = folder / "silence.m4a"
        write_silence(total, fps, silence)
        return silence

    if cfg.format == "png-sequence":
        partial = out.parent / f"{out.name}.partial.{secrets.token_hex(4)}"
        partial.mkdir()
        try:
            claim(partial)  # swept at the next start if this process dies here (the file is not a frame)
            t1 = time.monotonic()
            for r in ordered:
                src_dir = Path(r.output_path)
                for j, name in enumerate(sorted(p.name for p in src_dir.iterdir() if p.name.lower().endswith(".png"))):
                    target = partial / f"frame_{r.start_frame + j + 1:06d}.png"
                    try:
                        os.link(src_dir / name, target)
                    except OSError:
                        shutil.copyfile(src_dir / name, target)
            mux_ms = _ms(t1)
            t2 = time.monotonic()
            if has_audio:
                scratch = partial / ".audio"
                scratch.mkdir()
                fit_audio(audio_source(scratch), target_s, partial / "audio.m4a")
                shutil.rmtree(scratch)
            audio_fit_ms = _ms(t2)
            t3 = time.monotonic()
            names = sorted(p.name for p in partial.iterdir() if p.name != OWNER_FILE)
            expected = [f"frame_{i:06d}.png" for i in range(1, total + 1)] + (["audio.m4a"] if has_audio else [])
            if names != sorted(expected):
                raise HyperdeskError("OUTPUT_FRAME_COUNT_MISMATCH",
                                     f"the sequence has {len(names)} entries, expected {len(expected)}",
                                     details={"work_dir": str(partial)})
            decode_check(partial / "frame_%06d.png", total, png_sequence=True)
            verify_output_ms = _ms(t3)
            (partial / OWNER_FILE).unlink()  # the folder becomes the output: only frames and audio
            digest, per_file = frame_dir_hash(partial)
            if has_audio:
                per_file = {**per_file, "audio.m4a": sha256_file(partial / "audio.m4a")}
            size = sum(p.stat().st_size for p in partial.iterdir())
            _place_sequence(partial, out, overwrite=overwrite, digests=per_file)
        except BaseException as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if is_disk_full(exc):
                raise disk_full(out.parent, what="assembling", cause=exc) from exc
            raise
    else:
        work = out.parent / f"{out.name}.assemble.{secrets.token_hex(4)}"
        work.mkdir()
        try:
            claim(work)  # swept at the next start if this process dies here
            partial = work / "output.partial"

            def mux(audio: Path | None) -> None:
                concat_mux([Path(r.output_path) for r in ordered], audio, partial, fmt=cfg.format, fps=fps,
                           plan_hash=loaded.manifest.plan_hash, version=__version__, work_dir=work)

            audio_fit_ms = 0.0
            t1 = time.monotonic()
            if has_audio:
                audio_src = audio_source(work)
                # The plan's premix is normally T long already, so the fit copies it unchanged: mux
                # with the plan's track while the fit measures it, and again only if it changed it.
                audio_in = work / "audio-fit.m4a"

                def fit() -> dict:
                    nonlocal audio_fit_ms
                    t2 = time.monotonic()
                    try:
                        return fit_audio(audio_src, target_s, audio_in)
                    finally:
                        audio_fit_ms = _ms(t2)

                with ThreadPoolExecutor(max_workers=1) as pool:
                    fitting = pool.submit(fit)
                    try:
                        mux(audio_src)
                    except HyperdeskError:
                        fitting.result()  # the fit's error, when it has one, explains more
                        raise
                    fitted = fitting.result()
                if fitted["action"] != "copied":
                    mux(audio_in)
            else:
                mux(None)
            mux_ms = _ms(t1)
            t3 = time.monotonic()
            verify_output(partial, total_frames=total, fps=fps, keyframe_interval=cfg.keyframe_interval,
                          codec=cfg.codec, has_audio=has_audio, keyframes=loaded.chunks.keyframe_frames())
            verify_output_ms = _ms(t3)
            os.replace(partial, out)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            raise disk_full(out.parent, what="assembling", cause=exc) from exc
        finally:  # done or failed (a full disk included), nothing of the assembly stays beside the output
            shutil.rmtree(work, ignore_errors=True)
        digest = sha256_file(out)
        size = out.stat().st_size
    return AssembleResult(
        plan_hash=loaded.manifest.plan_hash, output_path=str(out), sha256=digest, frames=total,
        duration_s=round(target_s, 6), size_bytes=size, capture_modes=modes,
        timings=AssembleTimings(verify_inputs_ms=verify_inputs_ms, audio_fit_ms=audio_fit_ms, mux_ms=mux_ms,
                                verify_output_ms=verify_output_ms),
        warnings=warnings, missing_assets=list(loaded.manifest.missing_assets),
    )
