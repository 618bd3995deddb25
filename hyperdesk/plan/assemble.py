"""assemble(): verify every chunk, stitch, fit and mux the audio, verify the output (plan-contract.md 10)."""
from __future__ import annotations

import os
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Iterable

from hyperdesk import __version__
from hyperdesk.encode.assembly import concat_mux, verify_output
from hyperdesk.encode.audio import fit_audio
from hyperdesk.encode.ffmpeg import ffmpeg_identity as own_identity
from hyperdesk.encode.probe import decode_check
from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.hashing import frame_dir_hash, sha256_file
from hyperdesk.models import AssembleResult, AssembleTimings, ChunkResult, ResultWarning
from hyperdesk.plan.paths import check_output, is_own_sequence_file
from hyperdesk.plan.verify import LoadedPlan, load_plan


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


def _place_sequence(partial: Path, out: Path, *, overwrite: bool) -> None:
    """Move a verified frame folder to `out`. Never deletes a folder, nor any file that is not ours."""
    if not out.exists():
        os.rename(partial, out)
        return
    if not out.is_dir():
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"{out} exists and is not a folder",
                             details={"path": str(out)})
    others = [p for p in out.iterdir()]
    if others and not overwrite:
        raise HyperdeskError("OUTPUT_EXISTS", f"the output folder {out} is not empty",
                             details={"path": str(out), "entries": sorted(p.name for p in others)[:10]})
    for p in others:  # an earlier render's frames (and audio) go, even past the new last frame
        if is_own_sequence_file(p.name) and p.is_file() and not p.is_symlink():
            p.unlink()
    for p in sorted(partial.iterdir()):
        os.replace(p, out / p.name)
    partial.rmdir()


def assemble(plan_dir: Path | str, chunk_results: Iterable[ChunkResult], out: Path | str, *,
             ffmpeg_identity: str | None = None, overwrite: bool = False) -> AssembleResult:
    """Stitch and verify; the output appears only once verified. A png-sequence goes into a new or
    empty folder, or with `overwrite` into a folder whose own frame files it replaces (nothing else
    in that folder is touched)."""
    t0 = time.monotonic()
    loaded = load_plan(plan_dir)
    identity = ffmpeg_identity or own_identity()
    if identity != loaded.manifest.worker_env.ffmpeg_identity:
        wanted = loaded.manifest.worker_env.ffmpeg_identity
        raise HyperdeskError("FFMPEG_VERSION_MISMATCH", f"this machine's ffmpeg is {identity}, the plan needs {wanted}",
                             details={"worker": identity, "plan": wanted})
    out = check_output(out, loaded.encoder.format, overwrite=overwrite)
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
    audio_src = loaded.plan_dir / "audio.m4a"
    has_audio = cfg.include_audio and audio_src.is_file()

    if cfg.format == "png-sequence":
        partial = out.parent / f"{out.name}.partial.{secrets.token_hex(4)}"
        partial.mkdir()
        try:
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
                fit_audio(audio_src, target_s, partial / "audio.m4a")
            audio_fit_ms = _ms(t2)
            t3 = time.monotonic()
            names = sorted(p.name for p in partial.iterdir())
            expected = [f"frame_{i:06d}.png" for i in range(1, total + 1)] + (["audio.m4a"] if has_audio else [])
            if names != sorted(expected):
                raise HyperdeskError("OUTPUT_FRAME_COUNT_MISMATCH",
                                     f"the sequence has {len(names)} entries, expected {len(expected)}",
                                     details={"work_dir": str(partial)})
            decode_check(partial / "frame_%06d.png", total, png_sequence=True)
            verify_output_ms = _ms(t3)
            digest = frame_dir_hash(partial)[0]
            size = sum(p.stat().st_size for p in partial.iterdir())
            _place_sequence(partial, out, overwrite=overwrite)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    else:
        work = out.parent / f"{out.name}.assemble.{secrets.token_hex(4)}"
        work.mkdir()
        try:
            partial = work / "output.partial"

            def mux(audio: Path | None) -> None:
                concat_mux([Path(r.output_path) for r in ordered], audio, partial, fmt=cfg.format, fps=fps,
                           plan_hash=loaded.manifest.plan_hash, version=__version__, work_dir=work)

            audio_fit_ms = 0.0
            t1 = time.monotonic()
            if has_audio:
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
                          codec=cfg.codec, has_audio=has_audio)
            verify_output_ms = _ms(t3)
            os.replace(partial, out)
        except HyperdeskError as exc:
            exc.details.setdefault("work_dir", str(work))
            raise
        shutil.rmtree(work, ignore_errors=True)
        digest = sha256_file(out)
        size = out.stat().st_size
    return AssembleResult(
        plan_hash=loaded.manifest.plan_hash, output_path=str(out), sha256=digest, frames=total,
        duration_s=round(target_s, 6), size_bytes=size, capture_modes=modes,
        timings=AssembleTimings(verify_inputs_ms=verify_inputs_ms, audio_fit_ms=audio_fit_ms, mux_ms=mux_ms,
                                verify_output_ms=verify_output_ms),
        warnings=warnings,
    )
