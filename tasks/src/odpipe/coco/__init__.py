"""COCO instances: reading, recognising what a file is, and evaluating detections (COCOeval)."""
