"""Shot detection side by side with PySceneDetect on the moment corpus (``make bench-shots``)."""
