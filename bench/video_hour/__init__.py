"""One hour of video: wall time to index 360p and 1080p H.264, with and without speech."""
