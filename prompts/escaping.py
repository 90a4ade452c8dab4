"""Escaping of untrusted text for the two positions it can take in a rendered prompt.

A prompt quotes outside text (news, operator notes) and the facts JSON inside delimited blocks such as
`<external_text source="..." ref="..." trust="untrusted">...</external_text>`. This module guarantees:

- `escape_attribute(value)` is safe inside a double-quoted attribute value: the result holds no `"`,
  `'`, `<`, `>`, no `&` that does not start a reference written here, and no control, format, surrogate
  or line/paragraph-separator character (so no newline). It cannot end the value, add an attribute,
  end the tag or start a new line.
- `escape_content(text)` is safe as the content of a block: the result holds no `<` or `>` nor any
  look-alike angle bracket (`‹`, `＜`, `〈`, ...), no Unicode tag character (invisible ASCII copies), no
  surrogate and no control character except tab, newline and carriage return. It cannot close its block,
  open a tag, or pass for one.
- `unescape` is the exact inverse of both: `unescape(escape_x(s)) == s` for every string `s`.
- Text without any of those characters is returned unchanged, so ordinary prompts (and the hashes that
  key recorded replies) do not change. The JSON of the facts is ASCII (`json.dumps` default), so only
  `&`, `<` and `>` are ever escaped in it, as before.

References are `&amp;`, `&lt;`, `&gt;`, `&quot;` and `&#xHEX;`, the HTML/XML forms; a standard HTML
unescaper recovers every printable character (control characters are escaped losslessly here, but the
HTML and XML standards map or refuse some of them, hence `unescape`).
"""

from __future__ import annotations

import re
import unicodedata

_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_UNNAMED = {reference[1:-1]: char for char, reference in _NAMED.items()}

# Characters a reader (human or model) may take for an angle bracket.
LOOKALIKE_BRACKETS = (
    "\u2039\u203a"  # single guillemets
    "\u2329\u232a\u27e8\u27e9\u3008\u3009"  # angle brackets (technical, mathematical, CJK)
    "\u276c\u276d\u276e\u276f\u2770\u2771\u29fc\u29fd"  # ornamental and curved angle brackets
    "\ufe64\ufe65\uff1c\uff1e"  # small and fullwidth less-than and greater-than signs
)
# Unicode "tag" characters: invisible copies of ASCII that some models read as text.
_TAG_CHARACTERS = "\U000e0000-\U000e007f"

_CONTENT_UNSAFE = re.compile(
    "[&<>\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + LOOKALIKE_BRACKETS + _TAG_CHARACTERS + "]"
)
# Control, format, surrogate, line and paragraph separator: never inside an attribute value as such.
_ATTRIBUTE_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_REFERENCE = re.compile(r"&(?:(amp|lt|gt|quot)|#x([0-9A-F]{1,6}));")


def _reference(char: str) -> str:
    return _NAMED.get(char) or f"&#x{ord(char):X};"


def _attribute_char(char: str) -> str:
    if char in _NAMED or char == "'" or char in LOOKALIKE_BRACKETS:
        return _reference(char)
    if unicodedata.category(char) in _ATTRIBUTE_UNSAFE_CATEGORIES:
        return _reference(char)
    return char


def escape_attribute(value: str) -> str:
    """`value` escaped for a double-quoted attribute of a prompt block (see the module guarantees)."""
    return "".join(_attribute_char(char) for char in value)


def escape_content(text: str) -> str:
    """`text` escaped for the content of a prompt block (see the module guarantees)."""
    return _CONTENT_UNSAFE.sub(lambda match: _reference(match[0]), text)


def _unreference(match: re.Match[str]) -> str:
    name, code = match[1], match[2]
    if name:
        return _UNNAMED[name]
    point = int(code, 16)
    return chr(point) if point <= 0x10FFFF else match[0]  # never written here: left as it is


def unescape(escaped: str) -> str:
    """The original of a text escaped by `escape_attribute` or `escape_content`."""
    return _REFERENCE.sub(_unreference, escaped)
