"""The ``/docs`` page: the OpenAPI document rendered to plain HTML on the server.

No script and nothing from another origin: the page works offline and under a CSP of
``default-src 'none'; style-src 'self'`` (its stylesheet is ``/static/docs.css``). Each operation
shows its summary, parameters, request body fields and responses with their schemas.
"""
from __future__ import annotations

import json
from html import escape

METHOD_ORDER = ("get", "post", "put", "patch", "delete", "head", "options")


def render_docs(spec: dict) -> str:
    """The whole docs page for an OpenAPI ``spec`` (a dict)."""
    info = spec.get("info", {})
    ops = [(path, method, op) for path, item in spec.get("paths", {}).items()
           for method, op in sorted(item.items(), key=lambda kv: _order(kv[0])) if method in METHOD_ORDER]
    toc = "".join(f'<li><a href="#{_anchor(m, p)}"><span class="m {m}">{m.upper()}</span> {escape(p)}</a></li>'
                  for p, m, _ in ops)
    body = "".join(_operation(spec, p, m, op) for p, m, op in ops)
    schemas = "".join(_schema_section(name, schema) for name, schema in spec.get("components", {}).get("schemas", {}).items())
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(info.get("title", "API"))} API</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="stylesheet" href="/static/docs.css"></head><body><main>'
            f'<h1>{escape(info.get("title", "API"))} <small>{escape(str(info.get("version", "")))}</small></h1>'
            f'<p>{escape(info.get("description", ""))}</p>'
            '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are '
            '<code>{"error": code, "message": text, "status": status}</code>.</p>'
            f'<nav><h2>Operations</h2><ul>{toc}</ul></nav>{body}'
            f'<h2 id="schemas">Schemas</h2>{schemas}</main></body></html>')


def _order(method: str) -> int:
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _anchor(method: str, path: str) -> str:
    return f"{method}-" + "".join(c if c.isalnum() else "-" for c in path).strip("-")


def _operation(spec: dict, path: str, method: str, op: dict) -> str:
    """One operation: heading, description, parameters, body and responses."""
    parts = [f'<section id="{_anchor(method, path)}"><h2><span class="m {method}">{method.upper()}</span> '
             f'<code>{escape(path)}</code></h2>',
             f'<p>{escape(op.get("description") or op.get("summary") or "")}</p>']
    params = op.get("parameters", [])
    if params:
        rows = "".join(f'<tr><td><code>{escape(p["name"])}</code></td><td>{escape(p.get("in", ""))}</td>'
                       f'<td>{_type(p.get("schema", {}))}</td><td>{"yes" if p.get("required") else ""}</td>'
                       f'<td>{escape(p.get("description") or p.get("schema", {}).get("description", ""))}</td></tr>'
                       for p in params)
        parts.append('<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>type</th><th>required</th>'
                     f'<th>description</th></tr>{rows}</table>')
    for ctype, media in op.get("requestBody", {}).get("content", {}).items():
        parts.append(f'<h3>Body <code>{escape(ctype)}</code></h3>{_fields(_resolve(spec, media.get("schema", {})))}')
    rows = "".join(f'<tr><td>{escape(str(code))}</td><td>{escape(resp.get("description", ""))}</td>'
                   f'<td>{_response_types(resp)}</td></tr>' for code, resp in op.get("responses", {}).items())
    parts.append(f'<h3>Responses</h3><table><tr><th>status</th><th>meaning</th><th>body</th></tr>{rows}</table></section>')
    return "".join(parts)


def _resolve(spec: dict, schema: dict) -> dict:
    """A schema with one level of ``$ref`` followed."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return schema


def _fields(schema: dict) -> str:
    """A table of an object schema's properties."""
    props = schema.get("properties", {})
    if not props:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required", []))
    rows = "".join(f'<tr><td><code>{escape(name)}</code></td><td>{_type(s)}</td><td>{"yes" if name in required else ""}</td>'
                   f'<td>{escape(s.get("description", ""))}</td></tr>' for name, s in props.items())
    return f'<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>{rows}</table>'


def _type(schema: dict) -> str:
    """A short type label: ``string``, ``integer (1..200)``, ``Hit[]``, ``string | null``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return _type(schema.get("items", {})) + "[]"
    lo, hi = schema.get("minimum", schema.get("minLength")), schema.get("maximum", schema.get("maxLength"))
    bounds = f" ({'' if lo is None else lo}..{'' if hi is None else hi})" if lo is not None or hi is not None else ""
    fmt = f" ({schema['format']})" if schema.get("format") else ""
    return escape(f"{kind}{fmt}{bounds}")


def _response_types(resp: dict) -> str:
    return "<br>".join(f"<code>{escape(ctype)}</code> {_type(media.get('schema', {}))}"
                       for ctype, media in resp.get("content", {}).items())


def _schema_section(name: str, schema: dict) -> str:
    return (f'<section id="schema-{escape(name)}"><h3>{escape(name)}</h3>'
            f'<p>{escape(schema.get("description", ""))}</p>{_fields(schema)}'
            f'<details><summary>JSON schema</summary><pre>{escape(json.dumps(schema, indent=2))}</pre></details></section>')
