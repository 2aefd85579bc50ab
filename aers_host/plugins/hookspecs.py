"""pluggy hook specifications of AERS, under the name existing plugin packages import.

The markers live in the leaf module ``aers_host._hooks`` (it imports nothing of the
project, so marking an implementation pulls in neither the registry nor the store);
these names stay importable from here for packages written against this module.
"""

from .._hooks import ENTRY_POINT_GROUP, PROJECT_NAME, AersHookSpecs, hookimpl, hookspec

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "AersHookSpecs", "hookimpl", "hookspec"]
