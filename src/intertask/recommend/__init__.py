"""Recommendation for a new target: source libraries and `recommend()`.

    from intertask.recommend import recommend, build_library, load_library
"""

from intertask.recommend.build import build_library
from intertask.recommend.library import Library, LibrarySource, default_library_dir, load_library
from intertask.recommend.library_write import append_history, write_library
from intertask.recommend.recommend import Recommendation, recommend

__all__ = ["Library", "LibrarySource", "Recommendation", "append_history", "build_library", "default_library_dir",
           "load_library", "recommend", "write_library"]
