import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvalidInputError, NotFoundError } from '@lookalike/shared/domain/errors';
import { SqlImageRepository } from '@lookalike/shared/db/image-repository';
import { migrate } from '@lookalike/shared/db/migrate';
import { SqlModelRegistry } from '@lookalike/shared/db/model-registry';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import { SqlReembeddingRepository } from '@lookalike/shared/db/reembedding-repository';
import { testModelInfo } from '../../../../test/fixtures/model-info.js';
import { type EventBus, type ReembedImagePayload, type ReembeddingEvent, SUBSCRIPTION_GAP, type SubscriptionGap } from '@lookalike/shared/ports';
import { ReembedService } from './reembed.service.js';
import { testNewImage } from '../../../../test/fixtures/new-image.js';

// The use case on PGlite with the service's repositories. The event bus is scripted: the test says
// which events (and gaps) the subscription yields; the bus itself is tested on a real redis-server.
const model = testModelInfo('m:a');

class ScriptedBus {
  readonly published: ReembeddingEvent[] = [];
  private push?: (item: ReembeddingEvent | SubscriptionGap) => void;
  private readonly backlog: Array<ReembeddingEvent | SubscriptionGap> = [];
  async publishReembeddingProgress(event: ReembeddingEvent): Promise<void> {
    this.published.push(event);
  }
  /** What the subscription yields next. */
  emit(item: ReembeddingEvent | SubscriptionGap): void {
    if (this.push) this.push(item);
    else this.backlog.push(item);
  }
  async subscribeReembeddingProgress(): Promise<AsyncIterableIterator<ReembeddingEvent | SubscriptionGap>> {
    const subscription: AsyncIterableIterator<ReembeddingEvent | SubscriptionGap> = {
      [Symbol.asyncIterator]: () => subscription,
      next: () =>
        this.backlog.length > 0
          ? Promise.resolve({ done: false, value: this.backlog.shift()! })
          : new Promise((resolve) => (this.push = (value) => ((this.push = undefined), resolve({ done: false, value })))),
      return: async () => ({ done: true, value: undefined }),
    };
    return subscription;
  }
}

let db: PGliteClient;
let reembeddings: SqlReembeddingRepository;
let images: SqlImageRepository;
let bus: ScriptedBus;
let service: ReembedService;
const enqueued: ReembedImagePayload[] = [];

before(async () => {
  db = await PGliteClient.open();
  await migrate(db);
  reembeddings = new SqlReembeddingRepository(db);
  images = new SqlImageRepository(db);
  const models = new SqlModelRegistry(db);
  await models.register(model);
  bus = new ScriptedBus();
  service = new ReembedService({
    reembeddings,
    models,
    queue: { enqueueReembedImages: async (payloads) => void enqueued.push(...payloads) },
    events: bus as unknown as EventBus,
    activeModel: async () => model,
  });
});

after(() => db.close());

async function readyImage(collection: string): Promise<string> {
  const image = await images.create(testNewImage(Math.random(), { collection }));
  await images.setStatus(image.id, 'READY');
  return image.id;
}

test('startForCollection enqueues a job per image with the active model; cancel stops it and tells subscribers', async () => {
  const ids = [await readyImage('c'), await readyImage('c')];
  const started = await service.startForCollection('c');
  assert.deepEqual([started.state, started.total, started.model], ['RUNNING', 2, model.id]);
  assert.deepEqual(enqueued.map((p) => p.imageId).sort(), [...ids].sort());
  assert.ok(enqueued.every((p) => p.reembeddingId === started.id && p.model === model.id));

  const cancelled = await service.cancel(started.id);
  assert.equal(cancelled.state, 'CANCELLED');
  assert.deepEqual(bus.published.at(-1), { reembeddingId: started.id });
  await assert.rejects(service.cancel(started.id), (e: Error) => e instanceof InvalidInputError && /is CANCELLED already/.test(e.message));
  await assert.rejects(service.cancel('00000000-0000-0000-0000-000000000000'), NotFoundError);
  await assert.rejects(service.cancel('not-an-id'), NotFoundError);
});

test('progress after a gap reads the state again: of the one followed, and without an id of the running one', async () => {
  await readyImage('d');
  const running = await service.startForCollection('d');
  const byId = service.progress(running.id);
  assert.equal((await byId.next()).value?.done, 0, 'the current state first');
  const all = service.progress();
  const firstOfAll = all.next();
  await new Promise((r) => setTimeout(r, 10)); // both subscribed
  // Progress made while Redis was away: its event is lost; the subscriptions only hear of the gap.
  const [item] = await reembeddings.pendingImageIds(running.id, 1);
  await reembeddings.markItem(running.id, item, 'DONE');
  bus.emit(SUBSCRIPTION_GAP);
  bus.emit(SUBSCRIPTION_GAP);
  assert.equal((await byId.next()).value?.done, 1);
  const seen = (await firstOfAll).value!;
  assert.deepEqual([seen.id, seen.done], [running.id, 1]);
  await byId.return(undefined);
  await all.return(undefined);
});
