"""Contrastive training, evaluation and synthetic data."""
