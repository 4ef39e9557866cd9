"""Running the pipeline on one machine: the embedded S3 server and the local Argo runner."""
