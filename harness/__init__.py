"""wheelclash: runtime crash reproduction for cross-wheel C++ conflicts."""

from __future__ import annotations

__version__ = "0.1.0"
