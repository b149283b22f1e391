"""How a registry version reaches a worker, and how a worker follows the live version.

A version's file lives in Django's default storage (a folder or an S3 bucket), so a worker
on any host fetches it (`local_copy`: streamed to MODEL_CACHE_DIR/registry/<sha256>, its
digest checked before use, then kept). `RegistryModels` answers "which model runs the next
batch": between batches, at most every MODEL_LIVE_CHECK_SECONDS, it reads the live
version's id from the queue's Redis (`registry.spec.LIVE_VERSION_KEY`, written by every
promotion), and the database every MODEL_LIVE_RECHECK_SECONDS or when the key is missing.
A newly live version is loaded and warmed up in a thread while the current one keeps
answering, and answers from the first batch after (a promoted candidate this worker already
runs for its trial is taken as it is, from the next batch); at most `keep` models stay loaded (the
live one and the one before it, so a roll back is instant).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from redis import Redis
from redis.exceptions import RedisError

from mlworker.models.base import ImageClassifier
from mlworker.models.custom import CustomClassifier, ModelLoadError, VersionSpec
from mlworker.runtimes import InferenceChoice, ThreadPlan, configured_choice
from registry import spec
from registry.models import ModelVersion
from registry.selectors import live_version_in_database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeContext:
    """How this worker runs models: its runtime choice, threads and cache folder."""

    choice: InferenceChoice
    threads: ThreadPlan
    cache_dir: Path

    @classmethod
    def from_settings(cls) -> RuntimeContext:
        from mlworker.models.backends import configured_threads, default_cache_dir

        return cls(configured_choice(), configured_threads(), default_cache_dir())


_context: RuntimeContext | None = None


def use_context(context: RuntimeContext) -> None:
    """The worker command's runtime choice, used for every version it loads or validates."""
    global _context
    _context = context


def current_context() -> RuntimeContext:
    return _context or RuntimeContext.from_settings()


def version_spec(version_id: int) -> VersionSpec:
    return VersionSpec.from_row(ModelVersion.objects.get(pk=version_id))


def local_copy(version: VersionSpec, cache_dir: Path) -> Path:
    """The version's file on this host, fetched from storage once and checked by digest."""
    folder = cache_dir / "registry"
    path = folder / (version.sha256 + PurePosixPath(version.weights).suffix)
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, staging = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, default_storage.open(version.weights, "rb") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != version.sha256:
            raise ModelLoadError(
                "The stored file does not match the digest recorded when it was registered."
            )
        os.replace(staging, path)
    except OSError as error:
        raise ModelLoadError(f"Cannot fetch the model file from storage: {error}") from None
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return path


def load_version(version: VersionSpec, context: RuntimeContext) -> ImageClassifier:
    """Build the model of one version (this is where TensorFlow or ONNX Runtime loads it)."""
    if version.format == spec.BUILTIN:
        from mlworker.catalog import load_model

        model = load_model(version.builtin_key, choice=context.choice, threads=context.threads)
        model.version_id = version.id
        return model
    path = local_copy(version, context.cache_dir)
    return CustomClassifier(
        version,
        path,
        choice=context.choice,
        threads=context.threads,
        cache_dir=context.cache_dir,
    )


class RegistryModels:
    """The model for the next batch: the live version, or the worker's own built-in
    (`fallback`) while nothing is live."""

    def __init__(
        self,
        fallback: ImageClassifier,
        *,
        build_fallback: Callable[[], ImageClassifier],
        connection: Redis,
        context: RuntimeContext,
        warm_up: Callable[[ImageClassifier], None] = lambda model: None,
        already_loaded: Callable[[int], ImageClassifier | None] = lambda version_id: None,
        keep: int = 2,
    ) -> None:
        self.build_fallback = build_fallback
        #: a version this worker holds elsewhere (the candidate on trial): taken as it is
        self.already_loaded = already_loaded
        self.loaded: OrderedDict[int | None, ImageClassifier] = OrderedDict({None: fallback})
        self.connection = connection
        self.context = context
        self.warm_up = warm_up
        self.keep = keep
        self.live_id: int | None = None
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._checked_database = float("-inf")
        self.switches = 0
        self._wanted: int | None = None
        self._loading: threading.Thread | None = None
        #: version id → when loading it last failed (not tried again for a recheck period)
        self._failed: dict[int | None, float] = {}

    def current(self) -> ImageClassifier:
        """The live version's model once it is loaded; until then the one serving now.

        A version not loaded yet is loaded and warmed up in a thread of its own, so batches
        keep flowing on the current model meanwhile and switch at the first batch after.
        """
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= settings.MODEL_LIVE_CHECK_SECONDS:
                self._checked = now
                self._wanted = self._read_live_id(now)
            wanted = self._wanted
            if wanted != self.live_id:
                if wanted is not None and wanted not in self.loaded:
                    self._adopt(wanted)
                if wanted in self.loaded:
                    self._activate(wanted)
                else:
                    self._start_loading(wanted, now)
            model = self.loaded[self.live_id]
            self.loaded.move_to_end(self.live_id)
            return model

    def wait_until_idle(self, timeout: float) -> None:
        """Wait for a load in progress (tests, and a clean stop)."""
        loading = self._loading
        if loading is not None:
            loading.join(timeout)

    def _read_live_id(self, now: float) -> int | None:
        value = None
        try:
            value = self.connection.get(spec.LIVE_VERSION_KEY)
        except RedisError as error:
            logger.warning("live version not read from Redis: %s", error)
        due = now - self._checked_database >= settings.MODEL_LIVE_RECHECK_SECONDS
        if value is None or due:
            self._checked_database = now
            live = live_version_in_database()
            live_id = live.id if live is not None else None
            with suppress(RedisError):
                self.connection.set(spec.LIVE_VERSION_KEY, str(live_id or spec.NO_LIVE_VERSION))
            return live_id
        text = value.decode() if isinstance(value, bytes) else str(value)
        return None if text == spec.NO_LIVE_VERSION else int(text)

    def _adopt(self, wanted: int) -> None:
        """A promoted candidate is already loaded here: it serves from the next batch, with
        no second load and no second copy in memory."""
        model = self.already_loaded(wanted)
        if model is None:
            return
        self._make_room()
        self.loaded[wanted] = model
        logger.warning("model version %s (%s) goes live as its trial loaded it", wanted, model.name)

    def _make_room(self) -> None:
        """Room for one more: the live model stays, the others go (oldest first)."""
        while len(self.loaded) > max(self.keep - 1, 1):
            evicted = next(key for key in self.loaded if key != self.live_id)
            logger.info("unloaded model %s (%s)", evicted, self.loaded.pop(evicted).name)

    def _start_loading(self, wanted: int | None, now: float) -> None:
        failed_at = self._failed.get(wanted)
        recently_failed = (
            failed_at is not None and now - failed_at < settings.MODEL_LIVE_RECHECK_SECONDS
        )
        if self._loading is not None or recently_failed:
            return
        self._make_room()  # the live model, the one being loaded, nothing else
        self._loading = threading.Thread(
            target=self._load, args=(wanted,), name="load-model-version", daemon=True
        )
        self._loading.start()

    def _load(self, wanted: int | None) -> None:
        started = time.monotonic()
        try:
            model = (
                self.build_fallback()
                if wanted is None
                else load_version(version_spec(wanted), self.context)
            )
            self.warm_up(model)
        except Exception as error:  # ModelLoadError, a missing row, out of memory…
            # Keep serving what this worker has; try again after a recheck period.
            logger.error("cannot load live model version %s: %s", wanted, error)
            with self._lock:
                self._failed[wanted] = started
                self._loading = None
            return
        finally:
            connections.close_all()  # this thread's own database connection
        with self._lock:
            self._failed.pop(wanted, None)
            self.loaded[wanted] = model
            self._loading = None
        logger.warning(
            "loaded model version %s (%s) in %.2f s",
            wanted,
            model.name,
            time.monotonic() - started,
        )

    def _activate(self, wanted: int | None) -> None:
        self.live_id = wanted
        self.switches += 1
        self.loaded.move_to_end(wanted)
        while len(self.loaded) > self.keep:
            evicted, model = self.loaded.popitem(last=False)
            logger.info("unloaded model %s (%s)", evicted, model.name)
