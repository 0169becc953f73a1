"""The chaos suite, run by bench/chaos_lab.py: batches of real photos (and junk) made in
batches.py, sent while scenarios.py does something harmful to the fleet, and judged by
judging.py: every image must get exactly one final result, the right one."""
