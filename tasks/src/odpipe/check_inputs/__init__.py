"""check-inputs: the pipeline's first step. What a run needs from S3 (endpoint, credentials, the three
buckets, the annotations key, the images prefix), each problem named with the chart value or parameter
behind it, before any step spends minutes; then train's memo cache, rid of entries whose artifacts are gone."""
