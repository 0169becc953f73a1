"""facefleet: face detection, encoding and identification for a fleet of Celery workers."""

__version__ = "0.1.0"
