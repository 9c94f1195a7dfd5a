"""Render a lab: spec + scenario → a plan of files (pure) → files on disk (atomic)."""
