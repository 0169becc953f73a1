"""The pipeline wired to the settings: what the CLI, the tasks and the tests call."""

from __future__ import annotations

import atexit
import fcntl
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from facefleet.core.analysis import (
    AnalysisOptions,
    ImageResult,
    analyze_bytes,
    decode,
    error_result,
    faces_in,
)
from facefleet.core.face_engine import DetectorOptions, FaceEngine, shared_engine
from facefleet.core.gallery import Gallery
from facefleet.core.image_loading import BadImage, ImageLimits, check_file_size
from facefleet.core.model_files import locate_model_files
from facefleet.settings import Settings, detector_cache_folder

# One full-size decode at a time on a host (every worker, every pool child and thread):
# fast mode shrinks each image right after decoding it, so only these moments need the
# memory of a whole image, and this keeps them from adding up.
DECODE_LOCK = Path(tempfile.gettempdir()) / "facefleet-full-decode.lock"


@contextmanager
def one_full_decode_at_a_time() -> Iterator[None]:
    with DECODE_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# How often a detection waiting for a slot looks again (a detection takes 0.1-1 s).
SLOT_POLL_SECONDS = 0.01


class DetectionSlots:
    """At most ``count`` detections at once across a worker's pool processes and threads.

    Each slot is a lock file, held with flock on a descriptor opened for that one hold,
    so the kernel frees a slot when its holder dies. A pool child killed while detecting
    (a hard time limit, SIGKILL) used to keep its slot of a semaphore for good: with the
    slots gone, every later detection of that worker waited until its soft time limit
    (the chaos suite's kill-workers scenario, once: 7 results at the 60 s limit, then 23
    images with no result at all)."""

    PREFIX = "facefleet-detect-slots-"

    def __init__(self, count: int) -> None:
        self._owner = os.getpid()
        self.sweep(Path(tempfile.gettempdir()))
        # The owner's pid in the name: a folder whose owner died without its exit
        # handler (SIGKILL, the OOM killer) is swept by the next worker that starts.
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{self._owner}-"))
        self.paths = [self.folder / f"slot-{n}.lock" for n in range(max(count, 1))]
        for path in self.paths:
            path.touch()
        atexit.register(self._remove)

    @classmethod
    def sweep(cls, parent: Path) -> list[Path]:
        """Remove the slot folders in ``parent`` whose owner process is gone; returns them."""
        gone = []
        for folder in parent.glob(f"{cls.PREFIX}*-*"):
            owner = folder.name[len(cls.PREFIX) :].split("-", 1)[0]
            if owner.isdigit() and not _alive(int(owner)):
                shutil.rmtree(folder, ignore_errors=True)
                gone.append(folder)
        return gone

    def _remove(self) -> None:
        if os.getpid() == self._owner:  # pool children exit without removing it
            shutil.rmtree(self.folder, ignore_errors=True)

    @contextmanager
    def held(self) -> Iterator[None]:
        while True:
            for path in self.paths:
                with path.open("a") as handle:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
                    return
            time.sleep(SLOT_POLL_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


# A worker's slots, made in its main process before its pool forks (see tasks.py).
_detect_slots: DetectionSlots | None = None


def share_detection_slots(count: int) -> None:
    """Let at most ``count`` detections run at once in this process and the pool
    processes it forks from now on."""
    global _detect_slots
    _detect_slots = DetectionSlots(count)


def detection_slot() -> AbstractContextManager[object]:
    return _detect_slots.held() if _detect_slots is not None else nullcontext()


def analysis_options(settings: Settings) -> AnalysisOptions:
    return AnalysisOptions(
        detector=DetectorOptions(kind=settings.detector, upsample=settings.upsample),
        limits=ImageLimits(
            max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
        ),
        detection=settings.detection,
        detect_pixels=settings.detect_pixels,
        tolerance=settings.tolerance,
        num_jitters=settings.num_jitters,
        decode_gate=one_full_decode_at_a_time,
        detect_gate=detection_slot,
    )


@functools.cache
def _engine_in(models_dir: str, detector_cache_dir: str) -> FaceEngine:
    return shared_engine(locate_model_files(models_dir), detector_cache_folder(detector_cache_dir))


def engine_for(settings: Settings) -> FaceEngine:
    """The process's engine; the model files and the detector's cache folder are located
    once, not on every task."""
    return _engine_in(settings.models_dir, settings.detector_cache_dir)


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read a file, but not more than one byte past the limit (the check needs only that)."""
    with path.open("rb") as handle:
        return handle.read(max_bytes + 1)


def read_image_file(path: Path, limits: ImageLimits) -> bytes | ImageResult:
    """The file's bytes, or the error result for a file that is empty, over the byte
    limit (checked from its size, before reading) or unreadable."""
    try:
        check_file_size(path.stat().st_size, limits)
        return read_limited(path, limits.max_bytes)
    except BadImage as exc:
        return error_result(str(path), str(exc))
    except OSError as exc:
        return error_result(str(path), f"cannot read file: {exc.strerror or exc}")


def analyze_path(path: Path, settings: Settings, gallery: Gallery) -> ImageResult:
    options = analysis_options(settings)
    data = read_image_file(path, options.limits)
    if not isinstance(data, bytes):
        return data
    return analyze_bytes(str(path), data, engine_for(settings), gallery, options)


class EnrolmentError(ValueError):
    """An enrolment image does not show exactly one face."""


def encode_single_face(data: bytes, settings: Settings, label: str) -> list[float]:
    """The encoding of the one face in an enrolment image."""
    options = analysis_options(settings)
    try:
        pixels, _, _ = decode(data, options)
    except BadImage as exc:
        raise EnrolmentError(f"{label}: {exc}") from None
    _, encodings, _ = faces_in(pixels, engine_for(settings), options)
    if len(encodings) != 1:
        raise EnrolmentError(
            f"{label}: an enrolment photo must show exactly one face, this one shows "
            f"{len(encodings)}"
        )
    return [float(x) for x in encodings[0]]
