"""COCO instances: reading, recognising what a file is, evaluating detections (COCOeval), a synthetic set."""
