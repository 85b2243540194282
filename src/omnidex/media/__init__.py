"""Decoding media: sniffing, images, audio, video and text."""
