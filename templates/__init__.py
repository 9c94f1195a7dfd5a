"""Jinja2 templates of a lab folder, installed as the package `labgen.templates`."""
