"""Writing a changed copy of a study file that keeps its comments and layout.

PyYAML drops comments when it writes, and ruamel.yaml is not a dependency, so the one entry that
changes is edited in the text: :func:`yaml.compose` gives the span of its value, which is replaced
by a flow mapping; everything else (comments, order, blank lines) is copied as it is.
"""

from __future__ import annotations


import yaml

from hpsearch._errors import UsageError

__all__ = ["with_learning_rate_range"]


def _flow(low: float, high: float) -> str:
    return f"{{low: {float(low)!r}, high: {float(high)!r}, log: true}}"


def _entry(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _last_content_line(node: yaml.Node) -> int:
    """The last line (0-based) holding part of ``node``: a block node's end mark is the start of
    the next token, after any comment lines that follow it."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        return node.end_mark.line - (1 if node.end_mark.column == 0 and node.end_mark.line > node.start_mark.line else 0)
    children = [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
    return max([node.start_mark.line, *(_last_content_line(c) for c in children)])


def _replace_value(text: str, key_node: yaml.Node, value_node: yaml.Node, flow: str) -> str:
    same_line = value_node.start_mark.line == key_node.start_mark.line
    if isinstance(value_node, yaml.ScalarNode) and value_node.value == "" and not same_line:
        same_line = True  # `learning_rate:` with nothing after it: an empty scalar at the next token
        value_node = yaml.ScalarNode("tag:yaml.org,2002:null", "", key_node.end_mark, key_node.end_mark)
    if same_line and (isinstance(value_node, yaml.ScalarNode) or value_node.flow_style):
        if value_node.start_mark.index == value_node.end_mark.index:  # empty value: after the colon
            colon = text.index(":", key_node.end_mark.index) + 1
            return text[:colon] + " " + flow + text[colon:]
        return text[: value_node.start_mark.index] + flow + text[value_node.end_mark.index :]
    # A block mapping or sequence under the key: the key line gets the flow value, its lines go.
    lines = text.splitlines(keepends=True)
    key_line = key_node.start_mark.line
    colon = lines[key_line].index(":", key_node.end_mark.column) + 1
    lines[key_line] = lines[key_line][:colon] + " " + flow + lines[key_line][colon:]
    del lines[key_line + 1 : _last_content_line(value_node) + 1]
    return "".join(lines)


def with_learning_rate_range(text: str, low: float, high: float, *, where: str = "study file") -> str:
    """The study file ``text`` with ``search_space.learning_rate`` set to the log range
    ``[low, high]``: the entry's value replaced in place (its comment kept), or the entry added
    at the top of ``search_space:`` (the section added at the end when the file has none)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{where}: expected a mapping at the top level (dataset:, search_space:, ...).")
    flow = _flow(low, high)
    space = _entry(root, "search_space")
    if space is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + f"search_space:\n  learning_rate: {flow}\n"
    space_key, space_value = space
    if isinstance(space_value, yaml.MappingNode) and not space_value.flow_style and space_value.value:
        found = _entry(space_value, "learning_rate")
        if found is not None:
            return _replace_value(text, *found, flow)
        first_key = space_value.value[0][0]
        lines = text.splitlines(keepends=True)
        indent = " " * first_key.start_mark.column
        lines.insert(first_key.start_mark.line, f"{indent}learning_rate: {flow}\n")
        return "".join(lines)
    if isinstance(space_value, yaml.MappingNode) and space_value.flow_style:
        found = _entry(space_value, "learning_rate")
        if found is not None:
            return _replace_value(text, *found, flow)
        brace = space_value.start_mark.index + 1
        return text[:brace] + f"learning_rate: {flow}" + (", " if space_value.value else "") + text[brace:]
    if isinstance(space_value, yaml.ScalarNode) and space_value.value == "":  # `search_space:` left empty
        lines = text.splitlines(keepends=True)
        line = space_key.start_mark.line
        lines.insert(line + 1, f"{' ' * (space_key.start_mark.column + 2)}learning_rate: {flow}\n")
        return "".join(lines)
    raise UsageError(f"{where}: search_space is not a mapping; fix the study file first.")
