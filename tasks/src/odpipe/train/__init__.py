"""train: Ultralytics YOLO on a prepared dataset, with resume after a retry and COCO metrics."""
