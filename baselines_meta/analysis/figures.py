"""Writing figures: one PNG and one SVG per figure (plot and the rliable aggregate both use it)."""
from __future__ import annotations


def save(fig, path_stem: str) -> list[str]:
    """Write the figure as <path_stem>.png and .svg, close it; returns the two paths."""
    import matplotlib.pyplot as plt

    out = []
    for ext in ("png", "svg"):
        p = f"{path_stem}.{ext}"
        fig.savefig(p, dpi=110)
        out.append(p)
    plt.close(fig)
    return out
