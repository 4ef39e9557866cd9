"""Fault-injection helpers for the `faults` tests: a results recorder, a restartable S3 server, kill
points, a network namespace, a small tmpfs, a TCP proxy that delays or corrupts, and COCO mutators."""
