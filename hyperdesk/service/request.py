"""RenderRequest: everything a user asks of one render, from the command line or the app.

It is the one model both front ends build (the CLI from its options, the app from its panels)
and the one the job store keeps, so a resume or a re-plan repeats the same request. The plan's
own settings are its `config` (hyperdesk.plan.config.RenderConfig); the rest says where the
output goes and who renders.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hyperdesk.composition.project import Project, check_include, find_project
from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.config import RenderConfig


class FarmRequest(BaseModel):
    """Who renders the chunks, and how the job is watched."""

    model_config = ConfigDict(extra="forbid")

    local: int | None = None  # local worker slots; None = this machine's default, 0 = nodes only
    nodes: list[str] = Field(default_factory=list)  # registered node names or user@host[:port]
    accept_host_keys: list[str] = Field(default_factory=list)  # SHA256:… fingerprints confirmed by the user
    # Dask clusters: saved cluster names or scheduler addresses (tcp://HOST:PORT); their render workers join
    dask: list[str] = Field(default_factory=list)
    stall_timeout_s: float | None = None  # None = the controller's default (60 s)
    keep_chunks: bool = False  # keep chunk files after assembly

    def check(self) -> None:
        if self.local is not None and self.local < 0:
            raise HyperdeskError("INVALID_RENDER_CONFIG", "--workers/--local must be >= 0",
                                 details={"field": "local", "value": self.local})
        value = self.stall_timeout_s
        if value is not None and not (math.isfinite(value) and value > 0):
            raise HyperdeskError("INVALID_RENDER_CONFIG",
                                 f"--stall-timeout must be a number of seconds above 0, got {value}",
                                 details={"field": "stall_timeout", "value": value})


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    composition: str  # an .html file or a project folder
    output: str
    config: RenderConfig = Field(default_factory=RenderConfig)
    # replace an output file hyperdesk did not write; png-sequence: an earlier render's frames in its folder
    overwrite: bool = False
    farm: FarmRequest = Field(default_factory=FarmRequest)

    @classmethod
    def create(cls, composition: str | Path, output: str | Path, *, farm: FarmRequest | None = None,
               overwrite: bool = False, **config: object) -> RenderRequest:
        """A request with absolute paths; a file composition names its own entry."""
        comp = Path(composition).expanduser().absolute()
        if comp.is_file():
            config["entry"] = comp.name
        return cls(composition=str(comp), output=str(Path(output).expanduser().absolute()),
                   config=RenderConfig.model_validate(config), overwrite=overwrite, farm=farm or FarmRequest())

    def project(self) -> Project:
        """The composition's project (its folder, entry, and whether the whole folder is taken);
        COMPOSITION_NOT_FOUND when neither exists."""
        comp = Path(self.composition)
        return find_project(comp, None if comp.is_file() else self.config.entry)

    def check(self) -> None:
        """The request's own typed refusals: farm settings, bad project caps or --include globs."""
        self.farm.check()
        self.config.project_limits()
        check_include(self.config.include)

    @property
    def name(self) -> str:
        """A short name for lists: see job_name()."""
        return job_name(self)


_ID = re.compile(rb"""data-composition-id\s*=\s*["']([^"']{1,200})["']""", re.I)
_TITLE = re.compile(rb"<title[^>]*>([^<]{1,200})</title>", re.I)


def job_name(request: RenderRequest) -> str:
    """What a job is called in lists: the composition's id, else its <title>, else its folder (or file)."""
    comp = Path(request.composition)
    fallback = comp.name if comp.is_dir() or comp.name.lower() in ("index.html", "index.htm") else comp.stem
    if comp.name.lower() in ("index.html", "index.htm"):
        fallback = comp.parent.name
    try:
        project = request.project()
        head = (project.root / project.entry).read_bytes()[:256 * 1024]
    except (HyperdeskError, OSError):
        return fallback
    for pattern in (_ID, _TITLE):
        found = pattern.search(head)
        if found:
            text = " ".join(found.group(1).decode("utf-8", "replace").split())
            if text:
                return text
    return fallback
