"""Time series as a modality: reading and windowing numeric tables, SAX words with the MINDIST
lower bound, a learned VQ codebook, shape and text->series encoders, and exact search by example.

Nothing heavy is imported here; import the submodules (``sax``, ``vq``, ``io``, ``search``, ...).
"""
