"""Reference training loops that the harness is measured against."""
