"""labgen: turn the private Docker registry tutorial into a lab you can bring up and check."""

__version__ = "0.1.0"
