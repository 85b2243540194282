"""Search: encode the query per signal, calibrate, fuse, merge into moments."""
