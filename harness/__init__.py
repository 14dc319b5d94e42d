"""wheelclash: runtime crash reproduction for cross-wheel C++ conflicts."""

from __future__ import annotations

# The one definition of the version; pyproject.toml reads it from here (dynamic metadata).
__version__ = "0.1.0"
