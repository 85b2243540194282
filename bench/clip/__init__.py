"""CLIP ViT-B/32 image embedding throughput (``python -m bench.clip.run``)."""
