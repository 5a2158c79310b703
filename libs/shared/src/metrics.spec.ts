import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidImageError, InvalidInputError, NotFoundError } from './domain/errors.js';
import { PromMetrics } from './adapters/prom-metrics.js';
import { failureReason, markFailure, noopMetrics } from './metrics.js';

/** The value of one series in Prometheus text, e.g. `lookalike_job_failures_total{job="embed-image",reason="decode",final="true"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('PromMetrics', () => {
  it('keeps one registry per instance: two in one process both work and hold the default process metrics', async () => {
    const a = new PromMetrics();
    const b = new PromMetrics();
    a.jobFinished('embed-image', 'completed', 0.2);
    const [ta, tb] = await Promise.all([a.render(), b.render()]);
    assert.match(ta, /^process_cpu_user_seconds_total /m);
    assert.match(tb, /^nodejs_eventloop_lag_seconds /m);
    assert.equal(sample(ta, 'lookalike_job_duration_seconds_count{job="embed-image",outcome="completed"}'), 1);
    assert.equal(sample(tb, 'lookalike_job_duration_seconds_count{job="embed-image",outcome="completed"}'), undefined, 'b saw nothing of a');
    assert.match(a.contentType, /^text\/plain/);
    const bare = await new PromMetrics({ defaultMetrics: false }).render();
    assert.doesNotMatch(bare, /process_cpu/);
  });

  it('records jobs, failures, batches, images and searches under lookalike_ names with bounded labels', async () => {
    const m = new PromMetrics({ defaultMetrics: false });
    m.jobFinished('embed-image', 'completed', 0.03);
    m.jobFinished('embed-image', 'failed', 0.5);
    m.jobFinished('something-new', 'completed', 1);
    m.jobFailed('embed-image', 'decode', true);
    m.jobFailed('embed-image', 'decode', true);
    m.jobFailed('reembed-image', 'db', false);
    m.batchEmbedded(8, 0.12);
    m.batchEmbedded(3, 0.05);
    m.imageEmbedded(0.2);
    m.searchFinished('similarImages', 'upload', 'ok', 0.4);
    m.searchFinished('classify', 'upload', 'error', 0.1);
    m.requestFailed('uploadImage', 'too_large');
    m.requestFailed('somethingElse', 'other');
    const t = await m.render();
    assert.equal(sample(t, 'lookalike_job_duration_seconds_count{job="embed-image",outcome="completed"}'), 1);
    assert.equal(sample(t, 'lookalike_job_duration_seconds_bucket{le="0.05",job="embed-image",outcome="completed"}'), 1);
    assert.equal(sample(t, 'lookalike_job_duration_seconds_count{job="embed-image",outcome="failed"}'), 1);
    assert.equal(sample(t, 'lookalike_job_duration_seconds_count{job="other",outcome="completed"}'), 1, 'unknown job names fold into "other"');
    assert.equal(sample(t, 'lookalike_job_failures_total{job="embed-image",reason="decode",final="true"}'), 2);
    assert.equal(sample(t, 'lookalike_job_failures_total{job="reembed-image",reason="db",final="false"}'), 1);
    assert.equal(sample(t, 'lookalike_embed_batch_size_count'), 2);
    assert.equal(sample(t, 'lookalike_embed_batch_size_sum'), 11);
    assert.equal(sample(t, 'lookalike_embed_batch_size_bucket{le="4"}'), 1);
    assert.equal(sample(t, 'lookalike_embed_batch_duration_seconds_count'), 2);
    assert.equal(sample(t, 'lookalike_embed_image_duration_seconds_count'), 1);
    assert.equal(sample(t, 'lookalike_search_duration_seconds_count{query="similarImages",input="upload",outcome="ok"}'), 1);
    assert.equal(sample(t, 'lookalike_search_duration_seconds_count{query="classify",input="upload",outcome="error"}'), 1);
    assert.equal(sample(t, 'lookalike_request_failures_total{operation="uploadImage",reason="too_large"}'), 1);
    assert.equal(sample(t, 'lookalike_request_failures_total{operation="other",reason="other"}'), 1);
  });

  it('reads queue depth per state when scraped; a queue that cannot answer is left out, not the scrape', async () => {
    const m = new PromMetrics({ defaultMetrics: false });
    let waiting = 3;
    const stop = m.watchQueue('images', async () => ({ waiting, prioritized: 7, active: 1, delayed: 0, failed: 2, completed: 40 }));
    let t = await m.render();
    assert.equal(sample(t, 'lookalike_queue_depth{queue="images",state="waiting"}'), 3);
    assert.equal(sample(t, 'lookalike_queue_depth{queue="images",state="prioritized"}'), 7);
    assert.equal(sample(t, 'lookalike_queue_depth{queue="images",state="completed"}'), 40);
    waiting = 9;
    assert.equal(sample(await m.render(), 'lookalike_queue_depth{queue="images",state="waiting"}'), 9, 'read again at each scrape');

    m.watchQueue('broken', async () => {
      throw new Error('redis away');
    });
    t = await m.render();
    assert.equal(sample(t, 'lookalike_queue_depth{queue="images",state="waiting"}'), 9);
    assert.doesNotMatch(t, /queue="broken"/);

    // A second watch of a name replaces the first; the first's unwatch then leaves the second alone.
    const stop2 = m.watchQueue('images', async () => ({ waiting: 1 }));
    stop();
    t = await m.render();
    assert.equal(sample(t, 'lookalike_queue_depth{queue="images",state="waiting"}'), 1);
    assert.equal(sample(t, 'lookalike_queue_depth{queue="images",state="active"}'), 0, 'states the source leaves out read 0');
    stop2();
    assert.doesNotMatch(await m.render(), /queue="images"/);
  });

  it('noopMetrics takes every call', () => {
    noopMetrics.jobFinished('embed-image', 'completed', 1);
    noopMetrics.jobFailed('embed-image', 'other', true);
    noopMetrics.batchEmbedded(1, 1);
    noopMetrics.imageEmbedded(1);
    noopMetrics.searchFinished('classify', 'upload', 'ok', 1);
    noopMetrics.requestFailed('uploadImage', 'decode');
  });
});

describe('failureReason', () => {
  const withProps = (message: string, props: Record<string, unknown>, name?: string) => {
    const e = Object.assign(new Error(message), props);
    if (name) Object.defineProperty(e, 'name', { value: name });
    return e;
  };

  it('derives a reason from the class or code, never passing the message on', () => {
    const cases: [unknown, string][] = [
      [new InvalidImageError('The JPEG image is truncated and cannot be decoded: x.'), 'decode'],
      [new InvalidImageError('The image is 9000x9000 pixels, over the limit.', { width: 9000, height: 9000, maxPixels: 1000 }), 'too_large'],
      [new InvalidImageError('The image is 9000x9000 pixels, over the pixel limit.', { width: 9000, height: 9000 }), 'too_large'],
      [new InvalidInputError('The file is larger than the 100 byte upload limit.'), 'too_large'],
      [new InvalidInputError('k must be a whole number from 1 to 100, got 0.'), 'invalid_input'],
      [new NotFoundError('No image with id x.'), 'not_found'],
      [withProps("ENOENT: no such file or directory, open '/x'", { code: 'ENOENT', syscall: 'open' }), 'not_found'],
      [withProps('The specified key does not exist.', { code: 'NoSuchKey' }, 'S3Error'), 'not_found'],
      [withProps('Access Denied.', { code: 'AccessDenied' }, 'S3Error'), 'storage'],
      [withProps('EACCES: permission denied', { code: 'EACCES', syscall: 'open' }), 'storage'],
      [withProps('duplicate key value violates unique constraint', { code: '23505', severity: 'ERROR' }), 'db'],
      [new Error('Connection terminated unexpectedly'), 'db'],
      [withProps('connect ECONNREFUSED 127.0.0.1:6379', { code: 'ECONNREFUSED', syscall: 'connect' }), 'network'],
      [withProps('Reached the max retries per request limit', {}, 'MaxRetriesPerRequestError'), 'queue'],
      [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'queue'],
      [new Error('Job wait embed-query timed out before finishing, no finish notification arrived after 100ms (id=1)'), 'timeout'],
      [markFailure(new Error('onnxruntime: bad input shape'), 'model'), 'model'],
      [markFailure(new InvalidImageError('marked wins'), 'model'), 'model'],
      [new Error('something else entirely'), 'other'],
      ['a string', 'other'],
      [null, 'other'],
    ];
    for (const [error, reason] of cases) assert.equal(failureReason(error), reason, String((error as Error)?.message ?? error));
  });

  it('markFailure leaves the error as it was otherwise (same object, same message, nothing enumerable added)', () => {
    const e = new Error('x');
    assert.equal(markFailure(e, 'model'), e);
    assert.deepEqual(Object.keys(e), []);
    assert.equal(markFailure('not an object', 'model'), 'not an object');
    assert.equal(markFailure(Object.freeze(new Error('frozen')), 'model').message, 'frozen');
  });
});
