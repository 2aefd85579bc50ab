"""Dataset outputs: stems that sum to the mix, JAMS scene annotations, scene regeneration.

``aers render CONFIG --stems`` calls :func:`write_dataset`; ``aers events from-jams``
calls :func:`scene_from_jams`. The stem rule and the file layout are in docs/dataset.md.
"""

from ._dataset import write_dataset
from ._jams import (
    ANNOTATION_FORMAT,
    NAMESPACE,
    load_jams,
    polyphony,
    save_jams,
    scene_from_jams,
    scene_jams,
)
from ._linearity import (
    NonlinearNode,
    NonlinearStemsError,
    event_reach,
    nonlinear_nodes,
)
from ._stems import STEM_MODES, TOLERANCE_DBFS, StemMode, StemsReport, peak_dbfs, render_stems

__all__ = [
    "ANNOTATION_FORMAT",
    "NAMESPACE",
    "STEM_MODES",
    "TOLERANCE_DBFS",
    "NonlinearNode",
    "NonlinearStemsError",
    "StemMode",
    "StemsReport",
    "event_reach",
    "load_jams",
    "nonlinear_nodes",
    "peak_dbfs",
    "polyphony",
    "render_stems",
    "save_jams",
    "scene_from_jams",
    "scene_jams",
    "write_dataset",
]
