"""Torch modules of the learned rerankers (see :mod:`omnidex.search.rerank_model`)."""
from __future__ import annotations

import torch
from torch import nn

from .rerank_model import CLAMP, FEATURES, SIGNALS


class LinearFusion(nn.Module):
    """Logistic regression on the candidate features (the 'learned linear fusion')."""

    def __init__(self, cfg: dict, table: torch.Tensor | None = None):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(len(FEATURES)), requires_grad=False)  # feature standardisation
        self.shift = nn.Parameter(torch.zeros(len(FEATURES)), requires_grad=False)
        self.linear = nn.Linear(len(FEATURES), 1)

    def forward(self, b: dict) -> torch.Tensor:
        """Logit per candidate, shape (N,)."""
        return self.linear(self.standardise(b["feats"])).squeeze(-1)

    def standardise(self, feats: torch.Tensor) -> torch.Tensor:
        """Training-set standardisation, clamped (a value never seen in training cannot explode)."""
        return ((feats - self.shift) * self.scale).clamp(-CLAMP, CLAMP)


class CrossAttention(LinearFusion):
    """Query pieces attend over a candidate's pieces and signal tokens; pooled, then scored.

    Args:
        cfg: {"dim", "heads", "hidden", "embed_dim"}.
        table: frozen piece embeddings (vocab, embed_dim); zeros of that shape when loading weights.
    """

    def __init__(self, cfg: dict, table: torch.Tensor | None = None):
        super().__init__(cfg)
        d, e = cfg["dim"], cfg["embed_dim"]
        table = table if table is not None else torch.zeros(cfg["vocab"], e)
        self.emb = nn.Embedding.from_pretrained(table.float(), freeze=True)
        self.proj = nn.Linear(e, d)
        self.q_extra = nn.Linear(3, d)  # rarity, in the moment's words, in the file's words
        self.k_seg = nn.Embedding(2, d)  # moment words / file words
        self.k_extra = nn.Linear(1, d)  # the query has this piece too
        self.sig = nn.Parameter(torch.randn(len(SIGNALS), d) * 0.1)
        self.sig_val = nn.Linear(3, d)  # probability, reliability, present
        self.attn = nn.MultiheadAttention(d, cfg["heads"], batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(approximate="tanh"), nn.Linear(2 * d, d))
        self.drop = nn.Dropout(cfg.get("dropout", 0.1))  # training only (no weights)
        self.head = nn.Sequential(nn.Linear(2 * d + len(FEATURES), cfg["hidden"]), nn.GELU(approximate="tanh"),
                                  nn.Linear(cfg["hidden"], 1))

    def _keys(self, b: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Key tokens (N, Lk + signals, d) and their padding mask (True = ignore)."""
        k = self.proj(self.emb(b["k_ids"])) + self.k_seg(b["k_seg"]) + self.k_extra(b["k_inq"].unsqueeze(-1))
        s = self.sig.unsqueeze(0) + self.sig_val(b["sig"])
        mask = torch.cat([b["k_pad"], torch.zeros(s.shape[:2], dtype=torch.bool)], dim=1)
        return torch.cat([k, s], dim=1), mask

    def forward(self, b: dict) -> torch.Tensor:
        """Logit per candidate, shape (N,)."""
        q = self.proj(self.emb(b["q_ids"])) + self.q_extra(b["q_x"])
        keys, kmask = self._keys(b)
        att, _ = self.attn(q, keys, keys, key_padding_mask=kmask, need_weights=False)
        h = self.norm(q + att)
        h = h + self.ff(h)
        live = (~b["q_pad"]).unsqueeze(-1).float()
        mean = (h * live).sum(1) / live.sum(1).clamp(min=1.0)
        mx = h.masked_fill(live == 0, -1e4).max(1).values
        x = self.standardise(b["feats"])
        return (self.linear(x) + self.head(self.drop(torch.cat([mean, mx, x], dim=-1)))).squeeze(-1)


ARCHS = {"linear": LinearFusion, "xattn": CrossAttention}


def build(cfg: dict, table: torch.Tensor | None = None) -> nn.Module:
    """The module named by ``cfg["kind"]``."""
    return ARCHS[cfg["kind"]](cfg, table)


__all__ = ["ARCHS", "CrossAttention", "LinearFusion", "build"]
