"""Sphinx configuration of the depthscope documentation site.

Build it with ``bash scripts/docs.sh`` (warnings are errors, references are checked).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import depthscope

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))  # the _ext helpers below

project = "depthscope"
author = "depthscope developers"
copyright = "depthscope developers, MIT licence"
release = depthscope.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinx-mathjax-offline",  # MathJax 3 shipped in a wheel: the math renders offline
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "gallery/GALLERY_HEADER.rst",  # sphinx-gallery turns it into auto_examples/index
    "gallery/README.rst",
    "generated/cli-commands.md",  # written by _write_cli_reference, included by cli.md
    "**.ipynb_checkpoints",
]

# -- references: everything must resolve (-n -W) --------------------------------------------
nitpicky = True
# The site is built offline (no intersphinx), so names from numpy, torch and the standard
# library that docstrings mention as types cannot be linked; they are listed here instead of
# being reported as broken references.
_external = [
    "ndarray",
    "numpy.ndarray",
    "np.ndarray",
    "numpy.random.Generator",
    "np.random.Generator",
    "numpy.random.SeedSequence",
    "torch.nn.Module",
    "nn.Module",
    "torch.Tensor",
    "torch.device",
    "pathlib.Path",
    "os.PathLike",
    "argparse.ArgumentParser",
]
nitpick_ignore = [("py:class", name) for name in _external]
# Docstring problems in src/ that the docs work around (reported to the lead; remove each
# entry once the docstring is fixed):
nitpick_ignore += [
    # references to private names (moved by the src/ restructuring; not in the API reference)
    ("py:data", "depthscope.simulation._metrics.PANEL_METRICS"),  # SimulationResult
    ("py:func", "depthscope.simulation._samplers.draw_weights"),  # simulate
    ("py:func", "depthscope.simulation._metrics.ln_sin2_from_gram"),  # probe
    ("py:func", "depthscope.simulation._gram_route.certify_eigenvalues"),  # probe
    ("py:func", "depthscope.simulation._gram_route.spectra_from_grams"),  # probe
    ("py:func", "depthscope.simulation._metrics.panel_from_factors"),  # probe
    ("py:func", "depthscope.simulation._metrics.panel_from_spectra"),  # probe
    ("py:data", "MAX_DEPTH"),  # parse_architecture (depthscope._architecture.MAX_DEPTH)
    ("py:data", "MAX_WIDTH"),  # parse_architecture (depthscope._architecture.MAX_WIDTH)
    ("py:func", "mlp_from_spec"),  # depthscope.probing.load_model
    ("py:func", "architectures_from_module"),  # screen (depthscope._screen)
    # an instance attribute described in the Attributes section, which makes no target
    ("py:attr", "history"),  # TrainingMonitor
]

# -- autodoc / autosummary / numpydoc ----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- MyST -------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- sphinx-gallery ---------------------------------------------------------------------------
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")

sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every example is executed
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "min_reported_time": 0,
    # no sg_execution_times pages: they load DataTables from a CDN, and the site must work
    # offline (each example page states its own running time)
    "write_computation_times": False,
    "show_memory": False,
    "reference_url": {"depthscope": None},  # link names in the examples to the API pages
    "doc_module": ("depthscope",),
    "backreferences_dir": None,
    "capture_repr": ("_repr_html_",),
    "image_scrapers": ("matplotlib",),
}

# -- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"depthscope {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # a wider article for the wide tables
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "navigation_with_keys": False,
}
html_context = {"default_mode": "light"}
# Pages without children in the table of contents (the guides, results and theory pages)
# would show an empty "Section Navigation" column that squeezes their wide tables: no left
# sidebar there. The API reference and the gallery keep theirs (their entries are listed).
html_sidebars = {
    page: []
    for page in [
        *(p.stem for p in DOCS.glob("*.md") if p.stem != "api"),
        *(f"theory/{p.stem}" for p in (DOCS / "theory").glob("*.md")),
    ]
}


# -- hooks ------------------------------------------------------------------------------------
_PUBLIC = {name for name in dir(depthscope) if not name.startswith("_")}


def _resolve_reexport(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a reference to a re-exported name to its documented, public spelling.

    The docstrings are written inside the defining subpackage (``TrainingMonitor`` in
    ``depthscope.probing``); the reference documents each public name once, as
    ``depthscope.NAME`` (or ``depthscope.probing.NAME`` for the probing-only names).
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    short = target.rsplit(".", 1)[-1]
    if target not in (short, f"depthscope.probing.{short}", f"depthscope.{short}"):
        return None
    candidates = [f"depthscope.{short}", f"depthscope.probing.{short}"]
    domain = env.get_domain("py")
    for candidate in candidates:
        if candidate == target:
            continue
        found = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode
        )
        if found is not None:
            return found
    return None


# Docstring text that is valid plain text but not valid reStructuredText (reported to the lead;
# drop each entry once the docstring is fixed): {object name: [(old, new), ...]}.
_DOCSTRING_FIXES = {
    # "|T(n, k)|" reads as a substitution reference
    "depthscope.bessel_number": [("|T(n, k)|", r"\|T(n, k)\|")],
}


def _fix_docstring(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    for old, new in _DOCSTRING_FIXES.get(name, ()):
        for i, line in enumerate(lines):
            lines[i] = line.replace(old, new)


def _drop_empty_theory_glob(app, docname, source):  # type: ignore[no-untyped-def]
    """Build with or without the theory pages: drop the ``theory/*`` glob when it is empty.

    Sphinx reports an empty glob as a warning that cannot be suppressed, and the theory
    pages (docs/theory/) are written on another branch.
    """
    theory = DOCS / "theory"
    if docname == "index" and not any(theory.glob("*.md")) and not any(theory.glob("*.rst")):
        source[0] = source[0].replace("\ntheory/*\n", "\n")


def _write_cli_reference(app):  # type: ignore[no-untyped-def]
    """Write ``generated/cli-commands.md``: the ``--help`` text of ``depthscope`` and of each
    subcommand, taken from ``depthscope.cli.build_parser()`` so it cannot drift from the code.
    """
    import argparse

    from depthscope.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps help text to the terminal width
    try:
        parser = build_parser()
        parts = ["```text", parser.format_help().rstrip(), "```", ""]
        subparsers = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        for name, sub in subparsers.choices.items():
            parts += [
                f"(cli-{name})=",
                f"## depthscope {name}",
                "",
                "```text",
                sub.format_help().rstrip(),
                "```",
                "",
            ]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    out = DOCS / "generated" / "cli-commands.md"
    out.parent.mkdir(exist_ok=True)
    text = "\n".join(parts)
    if not out.exists() or out.read_text() != text:
        out.write_text(text)


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-docstring", _fix_docstring, priority=400)
    app.connect("source-read", _drop_empty_theory_glob)
    app.connect("builder-inited", _write_cli_reference)
    return {"parallel_read_safe": True}
