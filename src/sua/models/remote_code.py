"""Model folders never run code: transformers loads with ``trust_remote_code=False``, and a
local folder whose config asks for custom code (``auto_map``) is refused before loading."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sua.errors import SUAInputError

#: Keyword arguments every ``from_pretrained`` call in the project passes.
NO_REMOTE_CODE = {"trust_remote_code": False}

#: Files of a model folder that can name custom code in an ``auto_map`` entry.
_CONFIG_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json")


def refuse_remote_code(source: str | os.PathLike[str]) -> None:
    """Raise :class:`SUAInputError` if the local folder ``source`` needs custom code to load.

    A folder needs it when one of its config files has an ``auto_map`` entry (classes defined in
    the folder's own Python files). Hub names and files are left to transformers, which is
    always called with ``trust_remote_code=False``.
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return
    for name in _CONFIG_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SUAInputError(f"{path}: not a readable JSON config ({exc}); the folder is not a "
                                "model written by save_pretrained") from None
        if isinstance(config, dict) and config.get("auto_map"):
            raise SUAInputError(f"{folder}: {name} asks to run the folder's own code (auto_map: "
                                f"{sorted(config['auto_map'])}); sua never runs code from a model "
                                "folder. Use a model whose architecture transformers ships")
