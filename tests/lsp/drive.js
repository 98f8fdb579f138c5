// Drives the pinned yaml-language-server (node_modules, see package.json) over LSP stdio for
// tests/editor_lsp.rs: reads a job (JSON) on stdin, prints one JSON array of results.
//
// Job: {"rootUri": "file:///...", "settings": {yaml settings}, "steps": [
//   {"op": "diagnostics", "uri": "file:///...", "text": "..."},
//   {"op": "completion", "uri": "file:///...", "text": "...", "line": 0, "character": 0},
//   {"op": "hover", "uri": "file:///...", "text": "...", "line": 0, "character": 0}]}
// Every step opens its document (a new version when the uri was opened before).
'use strict';
const { spawn } = require('child_process');
const path = require('path');

const server = path.join(__dirname, 'node_modules', 'yaml-language-server', 'bin', 'yaml-language-server');
const STEP_TIMEOUT_MS = 60000;

function readStdin() {
  return new Promise((resolve) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => (data += c));
    process.stdin.on('end', () => resolve(data));
  });
}

async function main() {
  const job = JSON.parse(await readStdin());
  const child = spawn(process.execPath, [server, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buffer = Buffer.alloc(0);
  let nextId = 1;
  const pending = new Map();
  const waiters = [];
  const notifications = [];

  function send(msg) {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
    child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    child.stdin.write(body);
  }
  function request(method, params) {
    const id = nextId++;
    send({ id, method, params });
    return withTimeout(new Promise((resolve, reject) => pending.set(id, { resolve, reject })), method);
  }
  function notify(method, params) {
    send({ method, params });
  }
  function withTimeout(p, what) {
    return Promise.race([
      p,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS)),
    ]);
  }
  // Resolves with the first notification matching `pred` that arrives from now on.
  function waitFor(pred, what) {
    return withTimeout(new Promise((resolve) => waiters.push({ pred, resolve })), what);
  }
  function onMessage(msg) {
    if (msg.id !== undefined && msg.method === undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (p) msg.error ? p.reject(new Error(JSON.stringify(msg.error))) : p.resolve(msg.result);
      return;
    }
    if (msg.id !== undefined) {
      // A request from the server.
      let result = null;
      if (msg.method === 'workspace/configuration') {
        result = (msg.params.items || []).map((it) => (it.section === 'yaml' ? job.settings : it.section ? null : { yaml: job.settings }));
      }
      send({ id: msg.id, result });
      return;
    }
    notifications.push(msg);
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i].pred(msg)) {
        waiters[i].resolve(msg);
        waiters.splice(i, 1);
        i--;
      }
    }
  }
  child.stdout.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const sep = buffer.indexOf('\r\n\r\n');
      if (sep < 0) return;
      const header = buffer.slice(0, sep).toString('ascii');
      const m = /Content-Length: (\d+)/i.exec(header);
      const len = m ? parseInt(m[1], 10) : 0;
      if (buffer.length < sep + 4 + len) return;
      const body = buffer.slice(sep + 4, sep + 4 + len).toString('utf8');
      buffer = buffer.slice(sep + 4 + len);
      onMessage(JSON.parse(body));
    }
  });

  await request('initialize', {
    processId: process.pid,
    rootUri: job.rootUri,
    capabilities: {
      workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } },
      textDocument: {
        completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] } },
        hover: { contentFormat: ['markdown', 'plaintext'] },
        publishDiagnostics: {},
      },
    },
    initializationOptions: {},
  });
  notify('initialized', {});
  notify('workspace/didChangeConfiguration', { settings: { yaml: job.settings } });

  const versions = new Map();
  function open(step) {
    const version = (versions.get(step.uri) || 0) + 1;
    versions.set(step.uri, version);
    if (version === 1) {
      notify('textDocument/didOpen', { textDocument: { uri: step.uri, languageId: 'yaml', version, text: step.text } });
    } else {
      notify('textDocument/didChange', { textDocument: { uri: step.uri, version }, contentChanges: [{ text: step.text }] });
    }
  }

  const results = [];
  for (const step of job.steps) {
    if (step.op === 'diagnostics') {
      const got = waitFor((m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === step.uri, `diagnostics of ${step.uri}`);
      open(step);
      const msg = await got;
      results.push(msg.params.diagnostics.map((d) => ({ line: d.range.start.line, character: d.range.start.character, message: d.message, severity: d.severity })));
    } else if (step.op === 'completion' || step.op === 'hover') {
      const got = waitFor((m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === step.uri, `diagnostics of ${step.uri}`);
      open(step);
      await got;
      const params = { textDocument: { uri: step.uri }, position: { line: step.line, character: step.character } };
      if (step.op === 'completion') {
        const r = await request('textDocument/completion', params);
        const items = Array.isArray(r) ? r : (r && r.items) || [];
        results.push(items.map((i) => ({ label: i.label, insertText: i.insertText !== undefined ? i.insertText : (i.textEdit && i.textEdit.newText) || i.label })));
      } else {
        const r = await request('textDocument/hover', params);
        const c = r && r.contents;
        results.push(c ? (typeof c === 'string' ? c : c.value || JSON.stringify(c)) : null);
      }
    } else {
      throw new Error(`unknown op ${step.op}`);
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  try {
    await request('shutdown', null);
    notify('exit', null);
  } catch (e) {
    // The answer is out; a slow shutdown does not matter.
  }
  child.kill();
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`lsp driver: ${e.stack || e}\n`);
  process.exit(2);
});
