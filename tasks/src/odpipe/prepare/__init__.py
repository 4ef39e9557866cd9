"""prepare: COCO instances + images -> a validated, versioned YOLO dataset on the data volume."""
