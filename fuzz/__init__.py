"""Coverage-guided fuzz targets (atheris) for omnidex's parsers of untrusted bytes; see fuzz/README.md."""
