// Renders the server's own /openapi.json as a readable reference.
"use strict";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

let spec;

function resolve(schema) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 20; i++) s = s.$ref.split("/").slice(1).reduce((o, k) => o && o[k], spec) || {};
  return s;
}

function typeOf(schema) {
  const s = resolve(schema);
  const name = schema && schema.$ref ? schema.$ref.split("/").pop() : null;
  if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(typeOf).join(" | ");
  if (s.type === "array" || (Array.isArray(s.type) && s.type.includes("array"))) return `${typeOf(s.items)}[]`;
  const base = name || (Array.isArray(s.type) ? s.type.join(" | ") : s.type) || "object";
  return s.format ? `${base} (${s.format})` : base;
}

function constraints(s) {
  const parts = [];
  if (s.enum) parts.push(`one of ${s.enum.join(", ")}`);
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined) parts.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) parts.push(`max length ${s.maxLength}`);
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  return parts.length ? ` — ${parts.join(", ")}` : "";
}

function schemaTree(schema, depth = 0) {
  const s = resolve(schema);
  const item = s.type === "array" ? resolve(s.items) : s;
  if (!item.properties || depth > 3) return null;
  const required = new Set(item.required || []);
  return h("ul", { class: "schema" }, Object.entries(item.properties).map(([name, prop]) => {
    const p = resolve(prop);
    return h("li", {}, h("code", {}, name), " ", h("span", { class: "type" }, typeOf(prop)),
      required.has(name) ? h("span", { class: "req" }, " required") : null,
      (prop.description || p.description) ? ` — ${prop.description || p.description}` : "",
      constraints(p), schemaTree(prop, depth + 1));
  }));
}

function operation(path, method, op) {
  const id = op.operationId || `${method}-${path}`;
  const params = (op.parameters || []).map((p) => resolve(p));
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  return h("section", { class: "op", id },
    h("h2", {}, h("span", { class: `method ${method}` }, method), h("code", {}, path), h("span", { class: "muted" }, op.summary || "")),
    op.description ? h("p", {}, op.description) : null,
    !op.security || op.security.length ? null : h("p", { class: "muted" }, "No authentication."),
    params.length ? [h("h4", {}, "Parameters"), h("table", {}, h("tbody", {}, params.map((p) => h("tr", {},
      h("td", {}, h("code", {}, p.name), p.required ? h("span", { class: "req" }, " required") : null),
      h("td", {}, p.in), h("td", { class: "type" }, typeOf(p.schema)),
      h("td", {}, (p.description || "") + constraints(resolve(p.schema)))))))] : null,
    body ? [h("h4", {}, `Request body: ${typeOf(body.schema)}`), schemaTree(body.schema)] : null,
    h("h4", {}, "Responses"),
    h("table", {}, h("tbody", {}, Object.entries(op.responses || {}).map(([code, r]) => {
      const res = resolve(r);
      const json = res.content && res.content["application/json"];
      return h("tr", {}, h("td", {}, h("code", {}, code)), h("td", {}, res.description || ""),
        h("td", { class: "type" }, json ? typeOf(json.schema) : ""));
    }))));
}

async function main() {
  const reference = document.getElementById("reference");
  try {
    spec = await (await fetch("/openapi.json")).json();
  } catch (err) {
    reference.replaceChildren(h("p", { class: "error" }, `Could not load /openapi.json: ${err.message}`));
    return;
  }
  document.title = `${spec.info.title} ${spec.info.version} API reference`;
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push([path, method, op]);
    }
  }
  const toc = document.getElementById("toc");
  const sections = [h("h1", {}, `${spec.info.title} ${spec.info.version}`),
    spec.info.description ? h("p", {}, spec.info.description) : null];
  for (const [tag, ops] of groups) {
    toc.append(h("h3", {}, tag), ...ops.map(([path, method, op]) =>
      h("a", { href: `#${op.operationId || `${method}-${path}`}` }, `${method.toUpperCase()} ${op.summary || path}`)));
    sections.push(h("h2", {}, tag), ...ops.map(([path, method, op]) => operation(path, method, op)));
  }
  reference.replaceChildren(...sections);
}

main();
