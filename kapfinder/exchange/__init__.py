"""Open-data exchange: export and import of the directory as flat CSV, HSDS JSON and HSDS CSV.

Flask-free: ``flask clinics export|import`` (``kapfinder/cli/clinics.py``) and the benchmark call
these functions with a session and plain values. See docs/HSDS.md for every format.
"""
