"""What every step shares: S3 storage, the user-facing error, console output, atomic and JSON files, programs."""
