"""Speed and accuracy of facefleet's detection modes against face_recognition's default use.

    make bench      (.venv/bin/python app/bench/detection_modes.py [--processes 2])

The images: the shared photos, 12 MP versions of those that show enrolled people, and a
group photo whose faces are 60-80 px high (image_set.py; built once in .cache/bench-images).
The gallery: the people in photos.KNOWN, enrolled once (exact mode, so every variant
matches against the same encodings).

On the same cores and the same images:
- face_recognition: its default use (load_image_file, face_locations, face_encodings),
  then the nearest enrolled face within 0.6, in a pool of N processes forked after the
  models load;
- facefleet exact and fast: a real Celery worker (prefork, concurrency 4, the light
  profile's) against a real redis-server on loopback, fed by the app's submitter.
For each it prints images/s, faces found, named-face recall (the enrolled people each
image shows, found under their names), false names (a name on a face of someone else),
and the peak PSS of the worker (for face_recognition: of the pool) while it works. Then
every image whose names differ from face_recognition's, and one line:

  bench: <x> images/s vs face_recognition <y> images/s (<ratio>x), recall <r> vs <r0>,
  false names <f>, peak PSS <m> MB per worker

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np
from harness import bare_pool, celery_run, face_recognition_module, redis_server
from image_set import BenchImage, build
from photos import FACES, KNOWN, REPO

CACHE = REPO / ".cache" / "bench-images"


@dataclass
class Variant:
    name: str
    images_per_s: float
    names: dict[str, list[str | None]]  # image -> names, left to right
    peak_pss_mb: float


def score(images: list[BenchImage], names: dict[str, list[str | None]]) -> tuple[float, int, int]:
    """(recall, false names, faces found) over the images whose people are known."""
    expected = found = false = faces = 0
    for image in images:
        got = names[str(image.path)]
        faces += len(got)
        if image.names is None:
            continue
        counts = Counter(n for n in got if n)
        expected += image.names.total()
        found += sum(min(counts[person], times) for person, times in image.names.items())
        false += sum(max(0, c - image.names[n]) for n, c in counts.items())
    return found / expected, false, faces


_GALLERY: tuple[list[str], np.ndarray] = ([], np.zeros((0, 128)))


def _face_recognition_one(path: str) -> tuple[str, list[str | None]]:
    """face_recognition's default use on one image, then the nearest enrolled face."""
    fr = face_recognition_module()
    image = fr.load_image_file(path)
    boxes = fr.face_locations(image)
    encodings = fr.face_encodings(image, boxes)
    people, matrix = _GALLERY
    names: list[str | None] = []
    for _, encoding in sorted(zip(boxes, encodings, strict=True), key=lambda p: p[0][3]):
        distances = np.linalg.norm(matrix - encoding, axis=1)
        best = int(np.argmin(distances))
        names.append(people[best] if distances[best] <= 0.6 else None)
    return path, names


def _names_of(result: dict) -> list[str | None]:
    return [f["name"] for f in sorted(result["faces"], key=lambda f: f["box"][3])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from facefleet.core.gallery import Gallery
    from facefleet.gallery_store import GalleryStore
    from facefleet.pipeline import analyze_path, encode_single_face
    from facefleet.redis_client import connect
    from facefleet.settings import Settings

    exact = Settings(detection="exact")
    images = build(
        CACHE,
        lambda p: [tuple(f["box"]) for f in analyze_path(p, exact, Gallery())["faces"]],
    )
    files = [image.path for image in images]
    enrolled = {
        person: [encode_single_face((FACES / p).read_bytes(), exact, p) for p in photos]
        for person, photos in KNOWN.items()
    }
    gallery = Gallery.from_people(enrolled)
    global _GALLERY
    _GALLERY = (list(gallery.names), gallery.encodings)
    large = sum(1 for f in files if f.name.startswith("12mp-"))
    print(
        f"{len(files)} images ({large} of 12 MP, 1 group photo with 60-80 px faces), "
        f"{os.cpu_count()} cores; enrolled: {', '.join(sorted(KNOWN))}",
        flush=True,
    )

    variants: list[Variant] = []
    face_recognition_module()  # the models load before the pool forks
    run = bare_pool([str(f) for f in files], args.processes, _face_recognition_one)
    variants.append(
        Variant(
            f"face_recognition, {args.processes} processes",
            run.images_per_s,
            dict(run.results),
            run.peak_pss_mb,
        )
    )
    print(f"  {variants[-1].name}: {run.images_per_s:.2f} images/s", flush=True)
    with redis_server() as url:
        store = GalleryStore(connect(Settings(redis_url=url)), Settings().gallery_key)
        for person, encodings in enrolled.items():
            store.enroll(person, encodings, replace=True)
        for mode in ("exact", "fast"):
            worker = celery_run(
                files, url, "prefork", args.concurrency, {"FACEFLEET_DETECTION": mode}
            )
            variants.append(
                Variant(
                    f"facefleet {mode}, prefork {args.concurrency}",
                    worker.images_per_s,
                    {r["image"]: _names_of(r) for r in worker.results},
                    worker.peak_pss_mb,
                )
            )
            print(
                f"  {variants[-1].name}: {worker.images_per_s:.2f} images/s; PSS loaded "
                f"{worker.loaded_pss_mb:.0f} MB, peak {worker.peak_pss_mb:.0f} MB, after "
                f"the batch {worker.after_pss_mb:.0f} MB",
                flush=True,
            )

    reference = variants[0]
    print(
        f"\n{'variant':<34} {'images/s':>8} {'ratio':>6} {'faces':>6} {'recall':>7} "
        f"{'false':>6} {'peak PSS MB':>12}"
    )
    for v in variants:
        recall, false, faces = score(images, v.names)
        print(
            f"{v.name:<34} {v.images_per_s:>8.2f} {v.images_per_s / reference.images_per_s:>6.2f} "
            f"{faces:>6} {recall:>7.3f} {false:>6} {v.peak_pss_mb:>12.0f}"
        )
    print("\nnames that differ from face_recognition's, by image:")
    differences = 0
    for v in variants[1:]:
        for image in files:
            ours, theirs = v.names[str(image)], reference.names[str(image)]
            if sorted(ours, key=str) != sorted(theirs, key=str):
                differences += 1
                print(f"  {v.name}: {image.name}: {ours} (face_recognition: {theirs})")
    if not differences:
        print("  none")

    fast = variants[-1]
    recall, false, _ = score(images, fast.names)
    recall0, _, _ = score(images, reference.names)
    ratio = fast.images_per_s / reference.images_per_s
    print(
        f"bench: {fast.images_per_s:.2f} images/s vs face_recognition "
        f"{reference.images_per_s:.2f} images/s ({ratio:.2f}x), "
        f"recall {recall:.3f} vs {recall0:.3f}, false names {false}, "
        f"peak PSS {fast.peak_pss_mb:.0f} MB per worker"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
