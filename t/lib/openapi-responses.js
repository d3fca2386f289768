// openapi-responses.js -- checks HTTP responses against the APIs' OpenAPI
// 3.1 documents (src/api/openapi/<api>.json), for the server suite: every
// response a test receives from an API <Location> (t/lib/XportTest.pm
// sends them here) must be one the document describes.
//
//   node t/lib/openapi-responses.js DOCS_DIR NODE_MODULES_DIR
//
// Reads one JSON object a line on stdin:
//   {"api": "native", "method": "GET", "path": "/exports/<id>" (below the
//    Location, no query), "status": 200, "headers": {"lower-case name":
//    "value"}, "body_b64": "..." | null, "body_length": n}
// (body_b64 null: the body was not sent, too large or not JSON) and
// answers one line each: {"ok": true, "op": "GET /exports/{id}"} or
// {"ok": false, "op": ..., "problems": ["...", ...]}.
//
// What is checked, from the document alone:
// - the operation: the path template that matches (literal segments win
//   over {parameters}, as OpenAPI says) and the method; HEAD without an
//   operation of its own is its GET's, headers only; a method the path
//   does not list is its `options` operation's (the documents describe
//   there what every unlisted method gets: 405 with Allow). A path no
//   template matches must be the document's NotFound (or Unauthorized)
//   response;
// - the status is one of the operation's responses (or its NXX, default);
// - every header the response lists as required is there, and every
//   listed header that is there matches its schema;
// - the Content-Type is one the response lists, no body where it lists
//   none, and a JSON body is valid against its schema.
//
// Schemas are JSON Schema 2020-12, the dialect of OpenAPI 3.1, checked by
// Ajv (ajv/dist/2020) with the formats of ajv-formats. JSON::Validator
// (Debian's libjson-validator-perl 5.14) cannot: its OpenAPIv3 class is
// OpenAPI 3.0 (it rejects these 3.1 documents against the 3.0 schema)
// and it has no 2020-12 dialect.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const [docsDir, modules] = process.argv.slice(2).map((p) => path.resolve(p));
const Ajv2020 = require(path.join(modules, 'ajv/dist/2020')).default;
const addFormats = require(path.join(modules, 'ajv-formats'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const docs = {};
for (const f of fs.readdirSync(docsDir)) {
  if (!f.endsWith('.json')) continue;
  const api = f.slice(0, -5);
  const doc = JSON.parse(fs.readFileSync(path.join(docsDir, f), 'utf8'));
  ajv.addSchema(doc, `urn:xport:${api}`, undefined, false);
  docs[api] = { doc, templates: templatesOf(doc), validators: {} };
}

function templatesOf(doc) {
  return Object.keys(doc.paths || {}).map((t, order) => {
    const segs = t.split('/');
    return {
      t, order, segs,
      literal: segs.filter((s) => !/^\{.*\}$/.test(s)).length,
    };
  });
}

const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

// The object a "#/..." pointer names in the document.
function at(doc, pointer) {
  return pointer.split('/').slice(1).reduce((o, k) =>
    o === undefined ? undefined : o[k.replace(/~1/g, '/').replace(/~0/g, '~')],
  doc);
}

// {obj, ptr}: obj at ptr, following a $ref (Response, Header objects).
function deref(d, ptr) {
  let obj = at(d.doc, ptr);
  for (let i = 0; obj && obj.$ref && i < 10; i++) {
    ptr = obj.$ref.replace(/^#/, '');
    obj = at(d.doc, ptr);
  }
  return { obj, ptr };
}

function validator(d, api, ptr) {
  if (!d.validators[ptr]) {
    d.validators[ptr] = ajv.compile({ $ref: `urn:xport:${api}#${ptr}` });
  }
  return d.validators[ptr];
}

function schemaErrors(d, api, ptr, value) {
  const v = validator(d, api, ptr);
  if (v(value)) return null;
  return v.errors.slice(0, 6).map((e) => {
    const extra = e.params && e.params.additionalProperty
      ? ` (${e.params.additionalProperty})` : '';
    return `${e.instancePath || '/'} ${e.message}${extra}`;
  }).join('; ');
}

function matchTemplate(d, reqPath) {
  const segs = reqPath.split('/').map((s) => {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  });
  let best = null;
  for (const tp of d.templates) {
    if (tp.segs.length !== segs.length) continue;
    const ok = tp.segs.every((s, i) =>
      /^\{.*\}$/.test(s) ? segs[i] !== '' : s === segs[i]);
    if (ok && (!best || tp.literal > best.literal)) best = tp;
  }
  return best;
}

// The operation for a request: {ptr, name, headOnly}, {unknownPath} or
// {problem}.
function operation(d, req) {
  const m = req.method.toLowerCase();
  const tp = matchTemplate(d, req.path);
  if (!tp) return { unknownPath: true, name: `${req.method} ${req.path}` };
  const item = d.doc.paths[tp.t];
  const base = `/paths/${esc(tp.t)}`;
  const name = `${req.method} ${tp.t}`;
  if (item[m]) return { ptr: `${base}/${m}`, name, headOnly: m === 'head' };
  if (m === 'head' && item.get) {
    return { ptr: `${base}/get`, name: `${name} (as GET)`, headOnly: true };
  }
  if (item.options) {
    return { ptr: `${base}/options`, name: `${name} (unlisted: as OPTIONS)` };
  }
  return { problem: `${name}: the document lists no such operation` };
}

// The response object's pointer for a status, or a problem.
function responseFor(d, op, status) {
  const opObj = at(d.doc, op.ptr);
  const rs = opObj.responses || {};
  for (const k of [String(status), `${String(status)[0]}XX`, 'default']) {
    if (rs[k]) return { ptr: `${op.ptr}/responses/${k}` };
  }
  return { problem: `status ${status} is not documented (documented: ${Object.keys(rs).join(', ')})` };
}

// For a path no template matches: the document's NotFound/Unauthorized.
function unknownPathResponse(d, status) {
  const names = { 404: 'NotFound', 401: 'Unauthorized' };
  const n = names[status];
  if (n && d.doc.components && d.doc.components.responses &&
      d.doc.components.responses[n]) {
    return { ptr: `/components/responses/${n}` };
  }
  return { problem: `no path of the document matches, and status ${status} is not its NotFound (404)` };
}

function headerValue(schema, v) {
  const t = schema && schema.type;
  if ((t === 'integer' || t === 'number') && /^-?[0-9]+(\.[0-9]+)?$/.test(v)) {
    return Number(v);
  }
  return v;
}

function checkHeaders(d, api, resPtr, res, req, problems) {
  const headers = res.obj.headers || {};
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === 'content-type') continue;
    const h = deref(d, `${resPtr}/headers/${esc(name)}`);
    const v = req.headers[name.toLowerCase()];
    if (v === undefined) {
      if (h.obj && h.obj.required) problems.push(`required header ${name} is missing`);
      continue;
    }
    if (!h.obj || !h.obj.schema) continue;
    const err = schemaErrors(d, api, `${h.ptr}/schema`, headerValue(deref(d, `${h.ptr}/schema`).obj, v));
    if (err) problems.push(`header ${name}: "${v}" does not match its schema: ${err}`);
  }
}

const isJson = (mt) => mt === 'application/json' || /\+json$/.test(mt);

function mediaKey(content, mt) {
  if (content[mt]) return mt;
  const wild = `${mt.split('/')[0]}/*`;
  if (content[wild]) return wild;
  if (content['*/*']) return '*/*';
  return null;
}

function checkBody(d, api, res, req, op, problems) {
  const content = res.obj.content;
  const len = req.body_length || 0;
  const mt = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (req.method === 'HEAD' || req.status === 204 || req.status === 304) return;
  if (!content) {
    if (len > 0) problems.push(`the document describes no body, got ${mt || 'no Content-Type'} (${len} bytes)`);
    return;
  }
  if (len === 0 && !mt) {
    if (Object.keys(content).every(isJson)) problems.push(`no body, the document describes ${Object.keys(content).join(', ')}`);
    return;
  }
  const key = mediaKey(content, mt);
  if (!key) {
    problems.push(`Content-Type ${mt || '(none)'} is not one the document lists (${Object.keys(content).join(', ')})`);
    return;
  }
  if (!isJson(mt) || req.body_b64 == null || !content[key].schema) return;
  let value;
  const text = Buffer.from(req.body_b64, 'base64').toString('utf8');
  try { value = JSON.parse(text); } catch (e) {
    problems.push(`the body is not JSON (${e.message})`);
    return;
  }
  const err = schemaErrors(d, api, `${res.ptr}/content/${esc(key)}/schema`, value);
  if (err) problems.push(`body (${mt}) does not match its schema: ${err}`);
}

function check(req) {
  const d = docs[req.api];
  if (!d) return { ok: false, op: '?', problems: [`no OpenAPI document for API ${req.api}`] };
  const op = operation(d, req);
  if (op.problem) return { ok: false, op: `${req.method} ${req.path}`, problems: [op.problem] };
  const r = op.unknownPath ? unknownPathResponse(d, req.status) : responseFor(d, op, req.status);
  const name = `${op.name} -> ${req.status}`;
  if (r.problem) return { ok: false, op: name, problems: [r.problem] };
  const res = deref(d, r.ptr);
  const problems = [];
  checkHeaders(d, req.api, res.ptr, res, req, problems);
  checkBody(d, req.api, res, req, op, problems);
  return { ok: problems.length === 0, op: name, problems };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  let out;
  try {
    out = check(JSON.parse(line));
  } catch (e) {
    out = { ok: false, op: '?', problems: [`the checker failed: ${e.stack || e}`] };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
