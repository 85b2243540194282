"""Non-speech sound as a searchable modality (issue 6): the textbook log-mel front end, sound
windows for ingest, the bundled offline audio-text model (a small CNN trained LiT-style against the
locked MiniLM on generated sounds) and its seeded build command.

Nothing heavy is imported here: ``frontend`` needs NumPy (SciPy when present), ``model`` needs torch.
"""
