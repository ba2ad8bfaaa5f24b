"""Charts into notebooks and files: PNG bytes, and one image output per chart in Jupyter."""

from __future__ import annotations

from matplotlib.figure import Figure

# --------------------------------------------------------------------------- notebooks


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG (``dpi`` 100 gives 800 px for the house width of 8 in)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show(fig: Figure) -> None:
    """Display a chart in a notebook as a PNG image, with its title as the text fallback.

    Displays exactly one output, ``image/png`` plus ``text/plain`` "Chart: <title>", so stored
    notebook outputs hold no volatile ``<Figure size ...>`` repr and reports embed the image.
    Works with any backend; never calls ``matplotlib.use``.
    """
    import base64

    from IPython.display import display

    title = fig._suptitle.get_text() if fig._suptitle is not None else fig.get_label()
    display(
        {
            "image/png": base64.b64encode(png_bytes(fig)).decode("ascii"),
            "text/plain": f"Chart: {title}",
        },
        raw=True,
    )
