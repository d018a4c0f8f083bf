"""Calls that read or write text in the platform's default encoding: open() in text mode, Path.read_text/write_text,
logging.FileHandler and subprocess's text mode, each without `encoding=`. Under a non-UTF-8 locale each of them
garbles or fails on a caption like "jalapeños at a café"."""

import ast
from pathlib import Path

NOT_TEXT = ("tarfile", "Image", "wds", "gzip", "tar")  # their open() takes no encoding


def _text_mode(call: ast.Call, first_mode_arg: int) -> bool:
    mode = call.args[first_mode_arg].value if len(call.args) > first_mode_arg and isinstance(
        call.args[first_mode_arg], ast.Constant) else None
    for keyword in call.keywords:
        if keyword.arg == "mode" and isinstance(keyword.value, ast.Constant):
            mode = keyword.value.value
    return not isinstance(mode, str) or "b" not in mode


def unspecified_encodings(path: Path):
    """(line, what) for each such call in the Python file `path`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        keywords = {k.arg for k in node.keywords}
        if "encoding" in keywords:
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name == "open":
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in NOT_TEXT:
                continue
            # open(path, mode) and io.open(path, mode), or path.open(mode)
            module = isinstance(f, ast.Name) or (isinstance(f.value, ast.Name) and f.value.id in ("io", "builtins"))
            if _text_mode(node, 1 if module else 0):
                yield node.lineno, "open() in text mode without encoding"
        elif name in ("read_text", "write_text", "FileHandler"):
            yield node.lineno, f"{name}() without encoding"
        elif name in ("run", "Popen", "check_output") and keywords & {"text", "universal_newlines"}:
            yield node.lineno, f"subprocess {name}() in text mode without encoding"
