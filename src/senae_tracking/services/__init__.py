"""The services: each one a subpackage with its own entry points; none imports another's internals."""
