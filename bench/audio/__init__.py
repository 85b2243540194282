"""Audio-text benchmark: held-out text->sound recall and sound search through a real index."""
