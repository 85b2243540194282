"""Relevance benchmark on generated topic-family libraries (issue 14): ranking, moments, confidence, stability."""
