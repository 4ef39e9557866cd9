"""The formats odpipe owns: the artifact contract, dataset.json, the model card, Triton's config, checkpoints."""
