"""Data sources: Keras datasets by name, image folders, CSV tables, ``.npz`` arrays.

``load_source(SourceSpec(dataset=...), seed=..., data_dir=...) -> Dataset``; the kind is decided
once, by :func:`detect_kind`, and each kind has one entry in :data:`SOURCES`. Importing this
package needs numpy only (TensorFlow and Pillow are imported when used).
"""

from hpsearch.data.sources._kinds import KERAS_DATASETS, KINDS, detect_kind
from hpsearch.data.sources._registry import SOURCES, Source, load_source
from hpsearch.data.sources._spec import SourceSpec
from hpsearch.data.sources._transform import TableTransform

__all__ = ["KERAS_DATASETS", "KINDS", "SOURCES", "Source", "SourceSpec", "TableTransform", "detect_kind", "load_source"]
