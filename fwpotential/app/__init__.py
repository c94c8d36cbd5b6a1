"""The application layer: problem files, reports, the command line and the demo."""
