"""The lab spec: the YAML a user writes, parsed into a validated, immutable model."""
