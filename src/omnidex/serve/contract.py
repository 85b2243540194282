"""Finishing touches on the generated OpenAPI document, so it states what the server accepts.

FastAPI writes what the Python signatures say. Some rules live in the handlers instead (they answer
400 with a message that names the choices, rather than a bare validation error): a search needs a
text query, a picture or a recording; a classify call needs a file or an id; modality names come
from a fixed list; labels are at most 64 of at most 100 characters; a file part is a non-empty
file. They are written into the document here, so clients (and the schemathesis contract test)
see the same contract the handlers enforce.
"""
from __future__ import annotations

ID_PATTERN = "^[0-9a-f]{16}$"
PRINTABLE = "^[^\\x00-\\x1f\\x7f]*$"
# a character Python's str.strip() keeps (it also strips \x1c-\x1f and \x85, which \s does not match)
NOT_BLANK = "[^\\s\\x1c-\\x1f\\x85]"
HAS_TEXT = NOT_BLANK
LABELS_PATTERN = f"^\\s*[^,\\s\\x1c-\\x1f\\x85][^,]{{0,99}}(,[^,]{{0,100}}){{0,63}}$"  # 1..64 labels of 1..100 chars


def modality_pattern() -> str:
    """A comma list of known file kinds and sources (blanks allowed between commas)."""
    from ..search.engine import KINDS, SOURCES

    names = "|".join(sorted(set(KINDS) | set(SOURCES)))
    item = f"[ \\t]*({names})?[ \\t]*"
    return f"^{item}(,{item})*$"


def finish(schema: dict) -> dict:
    """Apply the rules above to an OpenAPI document (in place); returns it."""
    paths = schema.get("paths", {})
    comps = schema.get("components", {}).get("schemas", {})
    _files_are_files(comps)
    _param(paths, "/api/search", "get", "q", required=True, pattern=HAS_TEXT)
    for path, method in (("/api/search", "get"), ("/api/search", "post")):
        _param(paths, path, method, "modality", pattern=modality_pattern())
        _param(paths, path, method, "path", pattern=PRINTABLE)
        _param(paths, path, method, "in", pattern=ID_PATTERN)
    search = _body(paths, comps, "/api/search", "post")
    paths.get("/api/search", {}).get("post", {}).get("requestBody", {})["required"] = True
    if search is not None:
        search["anyOf"] = [{"required": ["q"]}, {"required": ["image"]}, {"required": ["audio"]}]
        _set(search["properties"]["q"], pattern=HAS_TEXT)
        for name in ("modality", "path", "in"):
            pattern = {"modality": modality_pattern(), "path": PRINTABLE, "in": ID_PATTERN}[name]
            _set(search["properties"].get(name, {}), pattern=pattern)
    classify = _body(paths, comps, "/api/classify", "post")
    if classify is not None:
        classify["anyOf"] = [{"required": ["file"]}, {"required": ["id"]}]
        _set(classify["properties"]["labels"], pattern=LABELS_PATTERN)
        _set(classify["properties"]["id"], pattern=ID_PATTERN)
    return schema


def _files_are_files(comps: dict) -> None:
    """A multipart file field is one non-empty file (FastAPI writes ``anyOf [file, string, null]``
    for fields that also take the empty text part a browser sends for an empty file input)."""
    for comp in comps.values():
        for prop in comp.get("properties", {}).values():
            files = [v for v in prop.get("anyOf", []) if v.get("format") == "binary" or "contentMediaType" in v]
            if files:
                prop.pop("anyOf")
                prop.update(files[0], minLength=1)


def _param(paths: dict, path: str, method: str, name: str, required: bool | None = None, **extra) -> None:
    """Add ``extra`` keywords to a query parameter's schema (and mark it required)."""
    for param in paths.get(path, {}).get(method, {}).get("parameters", []):
        if param.get("name") == name:
            if required is not None:
                param["required"] = required
            _set(param.get("schema", {}), **extra)


def _body(paths: dict, comps: dict, path: str, method: str) -> dict | None:
    """The component schema of an operation's form body, or None."""
    content = paths.get(path, {}).get(method, {}).get("requestBody", {}).get("content", {})
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        if ref:
            return comps.get(ref.rsplit("/", 1)[1])
    return None


def _set(prop: dict, **extra) -> None:
    """Put keywords on a schema; for ``anyOf [T, null]`` on the non-null branch."""
    target = next((v for v in prop.get("anyOf", []) if v.get("type") != "null"), prop)
    target.update(extra)

