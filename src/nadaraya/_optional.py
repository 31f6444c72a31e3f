"""Optional dependencies: import one, or say which extra installs it (usable by every layer)."""

from __future__ import annotations

import importlib


def require(module: str, extra: str):
    """Import an optional module, or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this part of nadaraya needs {module}, which is not installed ({exc}); "
            f"install it with: pip install 'nadaraya[{extra}]'"
        ) from None
