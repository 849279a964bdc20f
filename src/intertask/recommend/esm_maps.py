"""Embedding space maps of a library's sources (ESM-LogME), computed at build time or added later.

For each source: up to `PROFILE_TEXTS` of its training texts (the same deterministic sample as its
text-embedding centroid), the backbone's base features of them and their features read through
the source's library prompt (its best seed), and `selection.esm_logme.fit_esm_map` between the
two. Cost per source: two backbone passes over those texts.

    intertask library add-esm DIR     # maps for a library built without them
"""

from __future__ import annotations

from pathlib import Path

import numpy as np



def source_esm_map(task, backbone, prompt: np.ndarray) -> np.ndarray:
    """The `[H + 1, H]` map of `task`'s texts from `backbone`'s base features to those read
    through `prompt` (`[P, H]`)."""
    from intertask.selection.esm_logme import fit_esm_map
    from intertask.selection.profiles import PROFILE_TEXTS, example_text, sample_examples

    texts = [example_text(ex) for ex in sample_examples(task, max_texts=PROFILE_TEXTS, seed=0)]
    return fit_esm_map(backbone.features(texts), backbone.features(texts, prompt=prompt))


def add_esm_maps(library_dir, backbone=None, device: str = "cpu", progress=None) -> Path:
    """Compute every source's map and add `esm_maps.safetensors` to the library at `library_dir`
    (replacing maps it has); the sources' tasks are loaded by name. Returns the file's path.
    `progress(event, done, total)` is called once per source when given."""
    from safetensors.numpy import save

    from intertask.backbones import load_backbone
    from intertask.recommend.library import ESM_FILE, load_library
    from intertask.recommend.library_write import add_library_file
    from intertask.tasks.registry import get_task

    library = load_library(library_dir)
    tasks = {s.name: get_task(s.name, progress=False) for s in library.sources}  # fail before any compute
    if backbone is None:
        backbone = load_backbone(library.backbone["name"], device=device)
    maps = {}
    for i, source in enumerate(library.sources):
        maps[f"esm/{source.name}"] = source_esm_map(tasks[source.name], backbone, source.prompt)
        if progress:
            progress("embedding space maps", i + 1, len(library.sources))
    return add_library_file(library_dir, ESM_FILE, lambda tmp: tmp.write_bytes(save(maps)))
