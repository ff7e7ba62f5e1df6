"""Serving-only machinery: the parts of the service that exist because it is a long-running server."""
