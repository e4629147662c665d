from . import blend, patch  # noqa: F401  (registration)
