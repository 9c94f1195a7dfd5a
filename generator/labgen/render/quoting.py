"""Quote values for the three languages labgen writes: shell, Ruby and YAML.

Spec values are validated to be free of quotes and metacharacters already; quoting
them again at the template is the second wall, so that no value is ever placed raw.
"""

import json
import re
import shlex


def shell(value: object) -> str:
    """A POSIX shell word that expands to exactly `value`."""
    return shlex.quote(str(value))


def ruby(value: object) -> str:
    """A Ruby double-quoted string literal that reads back as exactly `value`.

    `\\`, `"` and `#` (which would start `#{...}` interpolation) are escaped, and so is
    every non-printable character: Ruby reads a raw CR LF in source as LF."""
    escaped = "".join(
        f"\\{char}" if char in '\\"#' else char if char.isprintable() else f"\\u{{{ord(char):x}}}"
        for char in str(value)
    )
    return f'"{escaped}"'


# Characters JSON leaves raw (it escapes only C0 controls) that YAML refuses raw (DEL, C1
# controls, U+FFFE/U+FFFF) or reads as line breaks, folded into spaces (NEL, U+2028/9).
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def yaml_str(value: object) -> str:
    """A YAML double-quoted scalar: a JSON string, which is one, with the characters YAML
    cannot hold raw escaped as well. Non-ASCII text stays readable (and astral characters
    whole: PyYAML would read a JSON surrogate pair as two characters)."""
    text = json.dumps(str(value), ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
