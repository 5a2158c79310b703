import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PromMetrics } from '@lookalike/shared/adapters/prom-metrics';
import { startWorkerHttpServer } from './http-server.js';

async function get(url: string, method = 'GET'): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('worker http server (probes)', () => {
  it('answers /healthz 200 from the start and /readyz 503 until marked ready', async () => {
    const server = await startWorkerHttpServer({ port: 0, host: '127.0.0.1' });
    try {
      assert.equal(server.state, 'starting');
      const live = await get(`${server.url}/healthz`);
      assert.equal(live.status, 200);
      assert.equal(live.body.status, 'alive');
      const notYet = await get(`${server.url}/readyz`);
      assert.equal(notYet.status, 503);
      assert.equal(notYet.body.status, 'starting');

      server.markReady();
      assert.equal(server.state, 'ready');
      const ready = await get(`${server.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, 'ready');
    } finally {
      await server.close();
    }
  });

  it('answers /readyz 503 while stopping, /healthz stays 200 (the pod is finishing its batch, not dead)', async () => {
    const server = await startWorkerHttpServer({ port: 0, host: '127.0.0.1' });
    try {
      server.markReady();
      server.markStopping();
      const readyz = await get(`${server.url}/readyz`);
      assert.equal(readyz.status, 503);
      assert.equal(readyz.body.status, 'stopping');
      assert.equal((await get(`${server.url}/healthz`)).status, 200);
      // Stopping is final: a late markReady (a warm-up finishing after SIGTERM) does not undo it.
      server.markReady();
      assert.equal((await get(`${server.url}/readyz`)).status, 503);
    } finally {
      await server.close();
    }
  });

  it('asks the check on each /readyz once ready: false or a throw answers 503', async () => {
    let running: boolean | 'throw' = true;
    const server = await startWorkerHttpServer({
      port: 0,
      host: '127.0.0.1',
      check: async () => {
        if (running === 'throw') throw new Error('redis gone');
        return running;
      },
    });
    try {
      server.markReady();
      assert.equal((await get(`${server.url}/readyz`)).status, 200);
      running = false;
      const down = await get(`${server.url}/readyz`);
      assert.equal(down.status, 503);
      assert.equal(down.body.status, 'not-running');
      running = 'throw';
      assert.equal((await get(`${server.url}/readyz`)).status, 503);
      running = true;
      assert.equal((await get(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('does not ask the check before ready', async () => {
    let asked = 0;
    const server = await startWorkerHttpServer({ port: 0, host: '127.0.0.1', check: () => (asked++, true) });
    try {
      assert.equal((await get(`${server.url}/readyz`)).status, 503);
      assert.equal(asked, 0);
    } finally {
      await server.close();
    }
  });

  it('answers HEAD without a body, 404 for other paths and 405 for other methods', async () => {
    const server = await startWorkerHttpServer({ port: 0, host: '127.0.0.1' });
    try {
      const head = await fetch(`${server.url}/healthz`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
      assert.equal((await get(`${server.url}/metrics-not-here`)).status, 404);
      const post = await fetch(`${server.url}/healthz`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      await post.text();
    } finally {
      await server.close();
    }
  });

  it('serves /metrics when given a registry, in every state; 404 without one', async () => {
    const bare = await startWorkerHttpServer({ port: 0, host: '127.0.0.1' });
    try {
      assert.equal((await get(`${bare.url}/metrics`)).status, 404);
    } finally {
      await bare.close();
    }
    const metrics = new PromMetrics({ defaultMetrics: false });
    metrics.batchEmbedded(4, 0.02);
    const server = await startWorkerHttpServer({ port: 0, host: '127.0.0.1', metrics });
    try {
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200, 'answers while starting too');
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(await res.text(), /^lookalike_embed_batch_size_sum 4$/m);
      const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
    } finally {
      await server.close();
    }
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    const server = await startWorkerHttpServer({ port: 0, host: '127.0.0.1' });
    // fetch keeps the connection alive; close() must not wait for it.
    assert.equal((await get(`${server.url}/healthz`)).status, 200);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 2000, 'close() waited for an idle keep-alive connection');
    await assert.rejects(fetch(`${server.url}/healthz`));
    await server.close(); // a second close is harmless
  });

  it('fails to start on a port already taken, with the error', async () => {
    const first = await startWorkerHttpServer({ port: 0, host: '127.0.0.1' });
    try {
      await assert.rejects(startWorkerHttpServer({ port: first.port, host: '127.0.0.1' }), /EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
