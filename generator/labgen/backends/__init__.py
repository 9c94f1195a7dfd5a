"""Backends run a rendered lab: compose (Docker-in-Docker nodes) or vagrant (VMs)."""
