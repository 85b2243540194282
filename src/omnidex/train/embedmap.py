"""Embedding maps: images and captions of one space drawn together, with a line from each caption to
its image, so contrastive alignment can be seen (``omnidex eval PAIRS --plot-embeddings OUT``).

Both modalities are projected with one PCA (numpy SVD of the stacked, jointly centred vectors), so the
modality gap stays visible (contrastive towers keep images and captions in two separate cones, even
after training). A second view removes that gap -- each modality centred on its own mean and scaled to the same
spread before the joint PCA -- so what training aligns shows: before training, lines between partners run anywhere;
after training they are short and neighbouring captions sit by neighbouring images. Writes ``OUT/embeddings.png`` (2-D, one
panel per encoder) and ``OUT/embeddings_3d.html``: a self-contained 3-D view (an inline canvas script
written here; no network, no CDN) to rotate (drag), zoom (wheel) and inspect (hover) each encoder's map.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

MAX_POINTS = 400  # pairs drawn per map (evenly spaced over the set)


def pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` projected on their top ``k`` principal axes, and the variance share of each axis."""
    x = np.asarray(x, dtype=np.float64)
    c = x - x.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(c, full_matrices=False)
    var = s ** 2
    share = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
    proj = c @ vt[:k].T
    if proj.shape[1] < k:  # fewer dimensions than asked: pad with zeros
        proj = np.pad(proj, ((0, 0), (0, k - proj.shape[1])))
        share = np.pad(share, (0, k - len(share)))
    return proj, share


def alignment(items: np.ndarray, texts: np.ndarray, owners: np.ndarray, seed: int = 0) -> dict:
    """Mean cosine of true (caption, image) pairs, of shuffled pairs, and their difference."""
    items, texts = np.asarray(items, np.float64), np.asarray(texts, np.float64)
    owners = np.asarray(owners)
    true = np.sum(texts * items[owners], axis=1)
    rng = np.random.default_rng(seed)
    other = items[rng.permutation(owners)]
    rand = np.sum(texts * other, axis=1)
    return {"pair_cosine": float(true.mean()), "random_cosine": float(rand.mean()),
            "margin": float(true.mean() - rand.mean())}


def _standardise(x: np.ndarray) -> np.ndarray:
    """Centred on its own mean and scaled to unit root-mean-square norm (one modality's cloud)."""
    c = x - x.mean(axis=0, keepdims=True)
    return c / (np.sqrt((c ** 2).sum(axis=1).mean()) or 1.0)


def build_map(label: str, items: np.ndarray, texts: np.ndarray, owners, captions: list[str],
              names: list[str], max_points: int = MAX_POINTS) -> dict:
    """One encoder's map: 2-D and 3-D PCA coordinates of (a subsample of) items and their captions.

    Args:
        label: the encoder's name in the figures.
        items: (n_items, d) unit item vectors; texts: (n_texts, d) unit caption vectors.
        owners: for each caption, its item's row.
        captions: the caption texts; names: the item names (file names) shown on hover.
        max_points: at most this many captions (evenly spaced) and their items are drawn.
    Returns:
        ``{"label", "items": {"xy", "xyz", "names"}, "texts": {"xy", "xyz", "captions", "owner"}, "variance",
        "alignment"}`` (owner indexes the drawn items).
    """
    owners = np.asarray(owners, dtype=np.int64)
    pick = np.unique(np.linspace(0, len(texts) - 1, min(max_points, len(texts))).round().astype(int))
    used = np.unique(owners[pick])
    remap = {int(o): j for j, o in enumerate(used)}
    it, tx = np.asarray(items, np.float64)[used], np.asarray(texts, np.float64)[pick]
    n = len(it)
    p3, share = pca(np.concatenate([it, tx], axis=0), 3)
    p3 = p3 / (np.abs(p3).max() or 1.0)
    c3, cshare = pca(np.concatenate([_standardise(it), _standardise(tx)], axis=0), 3)  # modality gap removed
    c3 = c3 / (np.abs(c3).max() or 1.0)
    return {"label": label,
            "items": {"xyz": p3[:n].round(4).tolist(), "xyz_centred": c3[:n].round(4).tolist(),
                      "names": [names[i] for i in used]},
            "texts": {"xyz": p3[n:].round(4).tolist(), "xyz_centred": c3[n:].round(4).tolist(),
                      "captions": [captions[i] for i in pick], "owner": [remap[int(owners[i])] for i in pick]},
            "variance": [round(float(v), 4) for v in share], "variance_centred": [round(float(v), 4) for v in cshare],
            "alignment": alignment(items, texts, owners)}


def plot_maps(maps: list[dict], out_dir: str | Path) -> dict:
    """Write ``embeddings.png`` (2-D, first two PCA axes, one panel per map) and ``embeddings_3d.html``.

    Returns:
        ``{"png": path, "html": path}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, len(maps), figsize=(5.2 * len(maps), 9.6), squeeze=False)
    for col, m in enumerate(maps):
        for row, (key, var, what) in enumerate((("xyz", "variance", "joint PCA"),
                                                ("xyz_centred", "variance_centred", "modality gap removed"))):
            ax = axes[row][col]
            it = np.array(m["items"][key])[:, :2]
            tx = np.array(m["texts"][key])[:, :2]
            seg = np.stack([tx, it[np.array(m["texts"]["owner"])]], axis=1)
            ax.add_collection(LineCollection(seg, colors="0.6", linewidths=0.4, alpha=0.6))
            ax.scatter(it[:, 0], it[:, 1], s=9, c="tab:blue", label="images")
            ax.scatter(tx[:, 0], tx[:, 1], s=9, c="tab:orange", marker="^", label="captions")
            a = m["alignment"]
            ax.set_title(f"{m['label']} ({what})\npair cosine {a['pair_cosine']:.2f} vs random "
                         f"{a['random_cosine']:.2f}", fontsize=9)
            ax.set_xlabel(f"PC1 ({m[var][0]:.0%})")
            ax.set_ylabel(f"PC2 ({m[var][1]:.0%})")
            ax.legend(fontsize=8, loc="best")
    fig.suptitle("images and captions, one PCA per encoder (lines join each caption to its image);\n"
                 "bottom: each modality centred and scaled first, which removes the modality gap", fontsize=10)
    fig.tight_layout()
    png = out / "embeddings.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    page = out / "embeddings_3d.html"
    page.write_text(html_page(maps), encoding="utf-8")
    return {"png": str(png), "html": str(page)}


_SCRIPT = r"""
(function () {
  const maps = JSON.parse(document.getElementById("maps").textContent);
  const cv = document.getElementById("cv"), ctx = cv.getContext("2d");
  const sel = document.getElementById("which"), info = document.getElementById("info");
  const tip = document.getElementById("tip"), gap = document.getElementById("gap");
  maps.forEach((m, i) => { const o = document.createElement("option"); o.value = i; o.textContent = m.label; sel.appendChild(o); });
  let yaw = 0.6, pitch = 0.35, zoom = 1.0, cur = 0, drag = null, shown = [];
  function rot(p) {
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    const x = p[0] * cy - p[2] * sy, z0 = p[0] * sy + p[2] * cy;
    const y = p[1] * cp - z0 * sp, z = p[1] * sp + z0 * cp;
    return [x, y, z];
  }
  function proj(p) {
    const r = rot(p), s = Math.min(cv.width, cv.height) * 0.38 * zoom, d = 3.2 / (3.2 + r[2]);
    return [cv.width / 2 + r[0] * s * d, cv.height / 2 - r[1] * s * d, r[2]];
  }
  function draw() {
    const m = maps[cur], key = gap.checked ? "xyz_centred" : "xyz";
    ctx.clearRect(0, 0, cv.width, cv.height);
    const ip = m.items[key].map(proj), tp = m.texts[key].map(proj);
    ctx.strokeStyle = "rgba(120,120,120,0.35)"; ctx.lineWidth = 1;
    ctx.beginPath();
    tp.forEach((p, i) => { const q = ip[m.texts.owner[i]]; ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); });
    ctx.stroke();
    shown = [];
    ip.forEach((p, i) => shown.push({p: p, kind: "image", text: m.items.names[i]}));
    tp.forEach((p, i) => shown.push({p: p, kind: "caption", text: m.texts.captions[i]}));
    shown.sort((a, b) => b.p[2] - a.p[2]);
    shown.forEach(s => {
      ctx.fillStyle = s.kind === "image" ? "#1f77b4" : "#ff7f0e";
      ctx.beginPath();
      if (s.kind === "image") ctx.arc(s.p[0], s.p[1], 3, 0, 2 * Math.PI);
      else { ctx.moveTo(s.p[0], s.p[1] - 4); ctx.lineTo(s.p[0] + 3.5, s.p[1] + 2.5); ctx.lineTo(s.p[0] - 3.5, s.p[1] + 2.5); }
      ctx.fill();
    });
    const a = m.alignment;
    info.textContent = m.label + ": " + m.items.xyz.length + " images (blue), " + m.texts.xyz.length +
      " captions (orange); pair cosine " + a.pair_cosine.toFixed(3) + " vs random " + a.random_cosine.toFixed(3) +
      "; PCA variance " + m[gap.checked ? "variance_centred" : "variance"].map(v => (100 * v).toFixed(0) + "%").join(" / ");
  }
  sel.onchange = () => { cur = +sel.value; draw(); };
  gap.onchange = draw;
  cv.onmousedown = e => { drag = [e.clientX, e.clientY]; };
  window.onmouseup = () => { drag = null; };
  cv.onmousemove = e => {
    if (drag) {
      yaw += (e.clientX - drag[0]) * 0.01; pitch += (e.clientY - drag[1]) * 0.01;
      pitch = Math.max(-1.5, Math.min(1.5, pitch)); drag = [e.clientX, e.clientY]; draw(); tip.style.display = "none"; return;
    }
    const b = cv.getBoundingClientRect(), x = e.clientX - b.left, y = e.clientY - b.top;
    let best = null, bd = 49;
    shown.forEach(s => { const d = (s.p[0] - x) ** 2 + (s.p[1] - y) ** 2; if (d < bd) { bd = d; best = s; } });
    if (best) { tip.style.display = "block"; tip.style.left = (e.pageX + 12) + "px"; tip.style.top = (e.pageY + 12) + "px";
      tip.textContent = best.kind + ": " + best.text; } else tip.style.display = "none";
  };
  cv.onwheel = e => { e.preventDefault(); zoom *= e.deltaY < 0 ? 1.1 : 1 / 1.1; draw(); };
  draw();
})();
"""


def html_page(maps: list[dict]) -> str:
    """A self-contained page (inline data and script, no external resources) with a 3-D view per map."""
    data = json.dumps(maps).replace("</", "<\\/")
    title = html.escape(" vs ".join(m["label"] for m in maps))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>embedding map: {title}</title>
<style>body{{font:14px sans-serif;margin:12px}}canvas{{border:1px solid #ccc;cursor:grab}}
#tip{{position:absolute;display:none;background:#fffbe6;border:1px solid #aaa;padding:3px 6px;font-size:12px;max-width:360px}}</style>
</head><body>
<h3>Images and captions in 3-D (one PCA per encoder)</h3>
<p>Encoder: <select id="which"></select>
<label><input type="checkbox" id="gap"> remove the modality gap (centre each modality)</label> &mdash; drag to rotate, wheel to zoom, hover for the file or caption.
Grey lines join each caption to its image: short lines mean aligned towers.</p>
<canvas id="cv" width="820" height="620"></canvas>
<p id="info"></p><div id="tip"></div>
<script type="application/json" id="maps">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
