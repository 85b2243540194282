"""Ingest: walk -> sniff -> decode/segment -> encode -> journaled write."""
