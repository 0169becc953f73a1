"""Every setting of the app, read in one place.

Order of precedence, lowest first:
1. the defaults below;
2. the TOML file named by ``FACEFLEET_CONFIG`` (default ``/etc/facefleet/facefleet.toml``,
   written by the Ansible ``app`` role), if it exists;
3. environment variables ``FACEFLEET_<FIELD>`` (upper case).

A worker's pool and concurrency are not settings of the app: they are the worker's command
line, which the celery_worker role writes from its variables (the seed's
``CELERY_WORKER_POOL`` and ``CELERY_WORKER_CONCURRENCY`` are read there, on the controller).

This module imports neither Celery nor Redis: the pure pipeline reads its options from it too.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path("/etc/facefleet/facefleet.toml")
# Seconds between a worker's sweeps for unacknowledged tasks older than the visibility
# timeout, which it puts back in the queue (kombu's redis transport; its default is 100).
RESTORE_SWEEP_SECONDS = 10


class SettingsError(ValueError):
    """A setting has a value the app cannot use."""


class SettingsUnreadable(SettingsError):
    """The settings file exists but this user may not read it."""

    def __init__(self, path: Path) -> None:
        group = _owning_group(path)
        hint = (
            f"run it as a member of group '{group}' (sudo -g {group} ..., or once: "
            f"sudo usermod -aG {group} $USER, then log in again)"
            if group
            else "run it with sudo"
        )
        super().__init__(f"cannot read the settings file {path} (permission denied): {hint}")


def _owning_group(path: Path) -> str | None:
    """The group that may read ``path``: its own, or its folder's when that is what is shut."""
    for candidate in (path, path.parent):
        try:
            return grp.getgrgid(candidate.stat().st_gid).gr_name
        except KeyError:
            return None
        except OSError:
            continue
    return None


def _read_config(path: Path) -> dict[str, Any] | None:
    """The TOML document at ``path``; None when there is no such file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise SettingsUnreadable(path) from None
    except IsADirectoryError:
        raise SettingsError(f"{path} is a folder, not a settings file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Settings:
    # Broker and result store (one Redis). The password goes inside the URL:
    # redis://:PASSWORD@host:6379/0
    redis_url: str = "redis://localhost:6379/0"
    # With a rediss:// URL (Redis over TLS), the CA certificate that signed Redis'
    # certificate; empty trusts the system's CAs. The certificate is always verified.
    redis_tls_ca_file: str = ""
    # A replicated Redis (the redis_sentinel role): the Sentinels, as "host:port" separated
    # by commas. Clients then ask them for the primary of redis_master_name, and follow it
    # through a failover; redis_url gives only the scheme, password and database (its
    # host is not used). Empty: the one Redis of redis_url.
    redis_sentinels: str = ""
    redis_master_name: str = "facefleet"
    # With Sentinel, milliseconds a submitter waits (WAIT 1) for a replica to hold each
    # image before it sends the task naming it; 0: never wait. A replica that does not
    # answer in time only makes the submitter count the image as unreplicated.
    submit_wait_replica_ms: int = 1000
    # Queue the tasks go to; its depth is `redis-cli llen <queue>`.
    queue: str = "celery"
    # Soft limit: the task gets an exception it turns into an error result (prefork only).
    task_soft_time_limit: int = 120
    # Hard limit: the pool kills the task's process (prefork only).
    task_time_limit: int = 150
    # Seconds before the broker gives an unacknowledged task to another worker.
    # Must exceed task_time_limit, or long tasks run twice.
    visibility_timeout: int = 600
    # Seconds a client (every one: workers, submitter, CLI, exporters) waits to connect to
    # Redis or a Sentinel, and for an answer. A host that vanished (powered off, its
    # address gone) never answers; without these the kernel waits minutes, and a worker
    # keeps waiting on an old primary long after Sentinel named a new one. The longest
    # command the fleet sends waits a second (BRPOP, WAIT). Idle connections are probed
    # too (TCP keepalive after 5 s, dead after 3 more unanswered probes 2 s apart).
    redis_connect_timeout: int = 5
    redis_read_timeout: int = 10
    # Seconds a client (submitter, worker publishing a result) keeps retrying while Redis
    # is unreachable, e.g. during a restart, before it gives up.
    redis_outage_seconds: int = 60
    # Bytes of images one submitter keeps in Redis at once (queued, or being analysed).
    # 0: a quarter of Redis' maxmemory (256 MiB when Redis has no maxmemory).
    submit_window_bytes: int = 0
    # A submitter sends an image only while Redis' used memory, plus twice the image (it
    # passes through Redis' input buffer), stays under this fraction of maxmemory. Every
    # submitter reads the same figure, so several share what is left, and the gallery
    # and results always keep room (facefleet/redis_room.py).
    submit_redis_fill: float = 0.6
    # Seconds a submitter with nothing in flight waits for room in Redis (or for Redis to
    # accept writes again) before it stops, saying why; the same command resumes.
    submit_stall_seconds: int = 600
    # Seconds a result stays in Redis.
    result_expires: int = 86400
    # Face detector: "hog" (CPU default) or "cnn" (about 100x slower on a CPU).
    detector: str = "hog"
    # Times the detector upsamples the image; 1 finds smaller faces, 0 is about 4x faster.
    upsample: int = 1
    # "fast": the detector scans a copy of at most detect_pixels (big JPEGs are decoded
    # straight to a fraction of their size); images up to that size are analysed exactly
    # as in "exact". "exact": face_recognition's default use, call for call, at full size.
    # See facefleet/core/analysis.py for the smallest face each finds.
    detection: str = "fast"
    # Fast mode's detection budget, in pixels: 1.6 MP, a 1460x1095 copy.
    detect_pixels: int = 1_600_000
    # Detections a worker runs at once (its pool's processes or threads share them): the
    # step that takes most CPU and memory. 0: as many as the host has cores.
    detect_slots: int = 0
    # A prefork pool child whose peak RSS (the models it shares with its parent
    # included, about 110 MB of it) went above this many MB is replaced once its task
    # ends: a fresh fork costs milliseconds, and gives back what dlib's buffers and the
    # heap kept from a large image. 0: never.
    child_recycle_mb: int = 200
    # Largest distance at which a face still gets a gallery name.
    tolerance: float = 0.6
    # Re-sampling passes per encoding (face_recognition's num_jitters).
    num_jitters: int = 1
    # Input files larger than this many bytes are refused.
    max_image_bytes: int = 20 * 1024 * 1024
    # Images with more pixels than this are refused before they are decoded.
    max_image_pixels: int = 40_000_000
    # Folder of the dlib model files; empty means the face-recognition-models package.
    models_dir: str = ""
    # Folder where each process finds dlib's HOG face detector in its binary form, which
    # loads in milliseconds where decoding dlib's built-in copy takes about 0.4 s (every
    # worker start, every pool thread's first image); the first process writes it.
    # Empty: $XDG_CACHE_HOME/facefleet, else ~/.cache/facefleet (the workers' HOME is the
    # app's data folder); a process without a home keeps it in memory only.
    detector_cache_dir: str = ""
    # Redis key prefix of the shared gallery.
    gallery_key: str = "facefleet:gallery"
    # Redis key prefix of images waiting for a worker (facefleet/image_store.py).
    image_key_prefix: str = "facefleet:image"
    # Count each image in Redis for `facefleet metrics-exporter` (one transaction per
    # image; `make bench-metrics` measures what it costs), under this key prefix.
    metrics: bool = True
    metrics_key_prefix: str = "facefleet:metrics"
    # Seconds the exporter waits for the workers' ping answers at each scrape.
    metrics_ping_timeout: float = 1.0

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn"):
            raise SettingsError(f"detector must be hog or cnn, not {self.detector!r}")
        if self.detection not in ("fast", "exact"):
            raise SettingsError(f"detection must be fast or exact, not {self.detection!r}")
        if self.detect_pixels < 100_000:
            raise SettingsError("detect_pixels must be at least 100000")
        if self.child_recycle_mb < 0:
            raise SettingsError("child_recycle_mb must be 0 (never) or more")
        if self.detect_slots < 0:
            raise SettingsError("detect_slots must be 0 (one per core) or more")
        if not 0 < self.tolerance <= 2:
            raise SettingsError("tolerance must be in (0, 2]")
        if self.upsample < 0 or self.num_jitters < 1:
            raise SettingsError("upsample must be >= 0 and num_jitters >= 1")
        if self.task_soft_time_limit >= self.task_time_limit:
            raise SettingsError("task_soft_time_limit must be below task_time_limit")
        if self.visibility_timeout <= self.task_time_limit:
            raise SettingsError(
                f"visibility_timeout ({self.visibility_timeout}) must exceed "
                f"task_time_limit ({self.task_time_limit}), or long tasks are delivered twice"
            )
        if self.redis_tls_ca_file and not self.redis_url.startswith("rediss://"):
            raise SettingsError("redis_tls_ca_file is set, but redis_url is not rediss:// (TLS)")
        parse_sentinels(self.redis_sentinels)
        if self.redis_connect_timeout < 1 or self.redis_read_timeout < 5:
            raise SettingsError("redis_connect_timeout must be >= 1 and redis_read_timeout >= 5")
        if self.submit_wait_replica_ms < 0:
            raise SettingsError("submit_wait_replica_ms must be 0 (never wait) or more")
        if self.redis_outage_seconds < 1:
            raise SettingsError("redis_outage_seconds must be at least 1")
        if self.max_image_bytes < 1 or self.max_image_pixels < 1:
            raise SettingsError("image limits must be positive")
        if not 0.1 <= self.submit_redis_fill <= 0.9:
            raise SettingsError("submit_redis_fill must be between 0.1 and 0.9")
        if self.submit_window_bytes < 0 or self.submit_stall_seconds < 1:
            raise SettingsError(
                "submit_window_bytes must be 0 (derived) or more, submit_stall_seconds 1 or more"
            )

    @property
    def detector_cache(self) -> Path | None:
        """Where the HOG detector's binary form is kept (``detector_cache_dir``, resolved)."""
        return detector_cache_folder(self.detector_cache_dir)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels of ``redis_sentinels`` as (host, port); empty without Sentinel."""
        return parse_sentinels(self.redis_sentinels)

    @property
    def resend_after(self) -> int:
        """Seconds after which a submitter sends a task again when it has no result.

        A live worker gives an unfinished task back within the visibility timeout (the
        broker's sweep returns it), and the hard limit bounds a run; past both, the
        message is gone: kombu's Redis transport pops it before it records it as
        unacknowledged, so a worker killed in between takes it along."""
        return self.visibility_timeout + RESTORE_SWEEP_SECONDS + self.task_time_limit


def detector_cache_folder(configured: str) -> Path | None:
    """The folder ``detector_cache_dir`` names: itself, else $XDG_CACHE_HOME/facefleet,
    else ~/.cache/facefleet; None for a process with no home (no HOME, and a uid without
    a passwd entry)."""
    if configured:
        return Path(configured)
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "facefleet"
    try:
        return Path.home() / ".cache" / "facefleet"
    except RuntimeError:  # Path.home() found neither
        return None


def parse_sentinels(text: str) -> list[tuple[str, int]]:
    """``"10.0.0.1:26379, [fd00::2]:26379"`` as ``[("10.0.0.1", 26379), ("fd00::2", 26379)]``."""
    addresses = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(f"redis_sentinels: {item!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _coerce(name: str, raw: Any, kind: type) -> Any:
    try:
        if kind is bool:
            return str(raw).lower() in ("1", "true", "yes", "on")
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {kind.__name__}") from exc


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    """Build the settings from defaults, the config file and the environment."""
    env = os.environ if environ is None else environ
    kinds = {f.name: type(f.default) for f in fields(Settings)}
    values: dict[str, Any] = {}

    path = config_path or Path(env.get("FACEFLEET_CONFIG", str(DEFAULT_CONFIG_PATH)))
    document = _read_config(path) or {}
    for key, raw in document.items():
        if key not in kinds:
            raise SettingsError(f"{path}: unknown setting {key!r}")
        values[key] = _coerce(key, raw, kinds[key])

    for field_name, kind in kinds.items():
        env_name = "FACEFLEET_" + field_name.upper()
        if env_name in env:
            values[field_name] = _coerce(env_name, env[env_name], kind)
    return Settings(**values)


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed (validated again)."""
    return dataclasses.replace(settings, **changes)
