"""A hosted class on Kubernetes: its objects as plain data (nothing here talks to a cluster)."""
