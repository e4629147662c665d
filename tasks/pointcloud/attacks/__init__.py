from . import dpc3_ba, pointba_i, pointba_o, pointcba  # noqa: F401  (registration)
