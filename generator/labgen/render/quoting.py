"""Quote values for the three languages labgen writes: shell, Ruby and YAML.

Spec values are validated to be free of quotes and metacharacters already; quoting
them again at the template is the second wall, so that no value is ever placed raw.
"""

import json
import shlex


def shell(value: object) -> str:
    """A POSIX shell word that expands to exactly `value`."""
    return shlex.quote(str(value))


def ruby(value: object) -> str:
    """A Ruby single-quoted string literal (only `\\` and `'` are special there)."""
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def yaml_str(value: object) -> str:
    """A YAML double-quoted scalar. JSON strings are valid YAML and escape everything."""
    return json.dumps(str(value), ensure_ascii=False)
