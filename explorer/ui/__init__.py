"""The Textual front end: the only package that may import textual or rich."""
