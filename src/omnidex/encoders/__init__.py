"""Encoders behind one registry: name -> bundle (model + preprocessing + tokenizer)."""
