/** The worker's sweeper finds an image whose job was lost and queues it again. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { distinctImage } from './fixtures/images.js';
import { startTestService, type TestService, waitFor } from './helpers/service.js';

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service?.stop());

const status = async (id: string) => (await service.db.query<{ status: string }>('SELECT status FROM images WHERE id = $1', [id]))[0].status;

test('an image left QUEUED without a job is re-queued by the sweeper and classified', async () => {
  const res = await service.upload(`mutation ($f: Upload!) { uploadImage(file: $f, collection: "sweep", label: "x") { id } }`, {}, { field: 'f', bytes: await distinctImage(77) });
  const id = res.data.uploadImage.id;
  await waitFor(async () => (await status(id)) === 'READY', 30_000, 'READY');
  // As if Redis lost the job: the row says QUEUED, 30 s ago, and no job is waiting (the finished one still holds its id).
  await service.db.query("UPDATE images SET status = 'QUEUED', updated_at = now() - interval '30 seconds' WHERE id = $1", [id]);
  await service.db.query('DELETE FROM classifications WHERE image_id = $1', [id]);
  const fresh = await service.upload(`mutation ($f: Upload!) { uploadImage(file: $f, collection: "sweep") { id } }`, {}, { field: 'f', bytes: await distinctImage(78) });
  await waitFor(async () => (await status(fresh.data.uploadImage.id)) === 'READY', 30_000, 'READY');

  await service.replaceWorker({ STALE_IMAGE_MS: '60000', REEMBED_SWEEP_MS: '200' });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(await status(id), 'QUEUED', 'young enough: left alone');

  await service.replaceWorker({ STALE_IMAGE_MS: '1000', REEMBED_SWEEP_MS: '200' });
  await waitFor(async () => (await status(id)) === 'READY', 30_000, 'the lost image READY again');
  const [row] = await service.db.query<{ n: number }>('SELECT count(*) AS n FROM classifications WHERE image_id = $1', [id]);
  assert.equal(Number(row.n), 1);
  assert.equal(await status(fresh.data.uploadImage.id), 'READY', 'a finished image is not touched');
});
