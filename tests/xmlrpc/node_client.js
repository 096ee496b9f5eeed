// node_client.js - a Node client (the 'xmlrpc' npm package) of managerd's
// XML-RPC endpoint, run by cross_language.py. The authkey (the HTTP Basic
// password) comes from MANAGERD_AUTHKEY.
//   node node_client.js URL demo           dict operations; prints one JSON object
//   node node_client.js URL get ID N       gets N items from the queue ID (JSON list)
'use strict';
const xmlrpc = require('xmlrpc');

const [url, cmd, ...args] = process.argv.slice(2);
const key = process.env.MANAGERD_AUTHKEY;
if (!key) {
  console.error('node_client.js: set MANAGERD_AUTHKEY');
  process.exit(2);
}
const u = new URL(url);
const client = xmlrpc.createClient({
  host: u.hostname, port: Number(u.port), path: u.pathname,
  basic_auth: { user: 'node', pass: key },
});

// One call: the value, or {fault: [code, string]}.
function call(method, params) {
  return new Promise((resolve, reject) => {
    client.methodCall(method, params, (err, value) => {
      if (err && err.faultCode !== undefined) resolve({ fault: [err.faultCode, err.faultString] });
      else if (err) reject(err);
      else resolve(value);
    });
  });
}

async function demo() {
  const out = {};
  const [id, exposed] = await call('create', ['dict', [], {}]);
  out.exposes_getitem = exposed.includes('__getitem__');
  await call('call', [id, '__setitem__', ['str', 'node h\u00e9llo'], {}]);
  await call('call', [id, '__setitem__', ['int', -42], {}]);
  await call('call', [id, '__setitem__', ['double', 2.5], {}]);
  await call('call', [id, '__setitem__', ['bool', true], {}]);
  await call('call', [id, '__setitem__', ['nil', null], {}]);
  await call('call', [id, '__setitem__', ['array', [1, 'two', [3]]], {}]);
  await call('call', [id, '__setitem__', ['struct', { a: 1, b: ['x'] }], {}]);
  await call('call', [id, '__setitem__', ['base64', Buffer.from([0, 255, 98, 105, 110])], {}]);
  const copy = await call('call', [id, 'copy', [], {}]);
  copy.base64 = Buffer.from(copy.base64).toString('base64');
  out.copy = copy;
  out.len = await call('call', [id, '__len__', [], {}]);
  out.missing = (await call('call', [id, '__getitem__', ['missing'], {}])).fault;
  out.nomethod = (await call('nope', [])).fault;
  await call('decref', [id]);
  out.after_decref = (await call('call', [id, '__len__', [], {}])).fault;
  out.id = id;
  return out;
}

async function get(id, n) {
  const items = [];
  for (let i = 0; i < n; i++) items.push(await call('call', [id, 'get', [true, 5], {}]));
  return items;
}

(async () => {
  try {
    const out = cmd === 'get' ? await get(args[0], Number(args[1])) : await demo();
    console.log(JSON.stringify(out));
  } catch (e) {
    console.error('node_client.js: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  }
})();
