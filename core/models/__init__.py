"""The same architectures written once per framework; see ``registry`` for the list."""
