"""The planDir models live in hyperdesk/models.py (the base layer, beside errors.py) so that
encode/, capture/ and composition/ can use them without importing upward; plan/ re-exports them."""
from hyperdesk.models import *  # noqa: F401,F403
from hyperdesk.models import SCHEMA_VERSION  # noqa: F401
