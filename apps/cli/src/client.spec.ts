import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { ApiClient, ApiError, DEFAULT_API, resolveApiUrl } from './client.js';

test('the API URL: --api, then LOOKALIKE_API, then the default; trailing / and /graphql dropped', () => {
  assert.equal(resolveApiUrl(undefined, {}), DEFAULT_API);
  assert.equal(resolveApiUrl(undefined, { LOOKALIKE_API: 'http://api:4000/' }), 'http://api:4000');
  assert.equal(resolveApiUrl('https://x.example/lookalike/graphql', { LOOKALIKE_API: 'http://api:4000' }), 'https://x.example/lookalike');
  assert.throws(() => resolveApiUrl('not a url', {}), /Invalid API URL/);
  assert.throws(() => resolveApiUrl('ftp://x', {}), /http:\/\/ or https:\/\//);
});

test('requests: JSON, multipart uploads with the preflight header, GraphQL errors and an unreachable API', async () => {
  const seen: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    seen.push({ headers: req.headers, body });
    res.setHeader('content-type', 'application/json');
    if (body.includes('boom')) res.end(JSON.stringify({ errors: [{ message: 'it went boom', extensions: { code: 'BAD_USER_INPUT' } }] }));
    else if (body.includes('html')) res.writeHead(502).end('<html>bad gateway</html>');
    else res.end(JSON.stringify({ data: { ok: true } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const client = new ApiClient(url);
    assert.deepEqual(await client.request('query { ok }', { a: 1 }), { ok: true });
    assert.equal(seen[0].headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(seen[0].body), { query: 'query { ok }', variables: { a: 1 } });

    await client.upload('mutation ($file: Upload!) { up(file: $file) }', { c: 'x' }, { file: { bytes: Buffer.from('PIXELS'), name: 'a.png' } });
    const multipart = seen[1];
    assert.equal(multipart.headers['apollo-require-preflight'], 'true');
    assert.match(String(multipart.headers['content-type']), /^multipart\/form-data; boundary=/);
    assert.match(multipart.body, /name="operations"\r\n\r\n\{"query":"mutation \(\$file: Upload!\) \{ up\(file: \$file\) \}","variables":\{"c":"x","file":null\}\}/);
    assert.match(multipart.body, /name="map"\r\n\r\n\{"0":\["variables\.file"\]\}/);
    assert.match(multipart.body, /name="0"; filename="a\.png"[\s\S]*PIXELS/);

    await assert.rejects(client.request('boom'), (e: ApiError) => e instanceof ApiError && e.message === 'it went boom' && e.code === 'BAD_USER_INPUT');
    await assert.rejects(client.request('html'), /HTTP 502 from .*<html>bad gateway/);
  } finally {
    await new Promise((r) => server.close(r));
  }
  // A port nothing listens on any more.
  const gone = http.createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const goneUrl = `http://127.0.0.1:${(gone.address() as { port: number }).port}`;
  await new Promise((r) => gone.close(r));
  await assert.rejects(new ApiClient(goneUrl).request('{ ok }'), (e: ApiError) => e.code === 'NETWORK' && e.message === `cannot reach the API at ${goneUrl} (ECONNREFUSED)`);
});
