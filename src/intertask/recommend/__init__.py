"""Recommendation for a new target: source libraries and `recommend()`.

    from intertask.recommend import recommend, build_library, load_library
"""

from intertask.recommend.build import build_library
from intertask.recommend.library import Library, LibrarySource, default_library_dir, load_library
from intertask.recommend.library_write import write_library
from intertask.recommend.measure import append_history, measure_target
from intertask.recommend.recommend import Recommendation, recommend

__all__ = ["Library", "LibrarySource", "Recommendation", "append_history", "build_library", "default_library_dir",
           "load_library", "measure_target", "recommend", "write_library"]
