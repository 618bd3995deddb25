"""The service layer: the one API both the command line and the desktop app render through."""
from hyperdesk.farm.controller import JobOutcome
from hyperdesk.service.facts import CompositionFacts
from hyperdesk.service.renders import RenderService
from hyperdesk.service.request import FarmRequest, RenderRequest

__all__ = ["CompositionFacts", "FarmRequest", "JobOutcome", "RenderRequest", "RenderService"]
