"""pluggy hook specifications of AERS, under the name existing plugin packages import.

The markers live in the leaf module ``aers_host._hooks`` (it imports nothing of the
project, so marking an implementation pulls in neither the registry nor the store);
these names stay importable from here for packages written against this module. Every
source of node types registers through these hooks: the built-ins, trusted pip-installed
packages (entry points in group ``aers.plugins``) and signed plugins from the store. New
code imports the markers from the public plugin API (docs/plugin-api.md)::

    from aers_host.plugin_api import hookimpl

    @hookimpl
    def aers_register_processors():
        return [MY_NODE_TYPE]
"""

from .._hooks import ENTRY_POINT_GROUP, PROJECT_NAME, AersHookSpecs, hookimpl, hookspec

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "AersHookSpecs", "hookimpl", "hookspec"]
