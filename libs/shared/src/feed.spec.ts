import assert from 'node:assert/strict';
import { EventEmitter, on } from 'node:events';
import { test } from 'node:test';
import { feedOf } from './feed.js';

/** An in-memory event source with the EventBus iterator's shape; `ended` once return() was called. */
function source() {
  const emitter = new EventEmitter();
  const messages = on(emitter, 'event') as AsyncIterableIterator<[number]>;
  const state = { ended: false, emit: (n: number) => emitter.emit('event', n) };
  const events: AsyncIterableIterator<number> = {
    async next() {
      const r = await messages.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: r.value[0] };
    },
    async return() {
      state.ended = true;
      await messages.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => events,
  };
  return { events, state };
}

/** Yields the even events only: while it waits, odd ones never bring it to a yield. */
async function* evens(events: AsyncIterableIterator<number>): AsyncGenerator<number> {
  for await (const n of events) if (n % 2 === 0) yield n;
}

const settle = () => new Promise((r) => setImmediate(r));

test('return() while the body waits for an event it skips ends the pending next() and the source', async () => {
  const { events, state } = source();
  const feed = feedOf(async () => events, evens);
  const first = feed.next();
  await settle();
  state.emit(2);
  assert.deepEqual(await first, { done: false, value: 2 });
  const pending = feed.next();
  state.emit(3);
  await settle();
  assert.deepEqual(await feed.return(undefined), { done: true, value: undefined });
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.equal(state.ended, true);
});

test('the same body as a plain async generator would not end: return() waits for its next yield', async () => {
  const { events, state } = source();
  const plain = evens(events);
  const pending = plain.next();
  await settle();
  state.emit(1);
  const returned = plain.return(undefined);
  const outcome = await Promise.race([returned.then(() => 'returned'), new Promise((r) => setTimeout(() => r('still waiting'), 100))]);
  assert.equal(outcome, 'still waiting', 'what feedOf is for');
  state.emit(4); // lets it reach a yield and finish, so the test leaves nothing behind
  await pending;
  await returned;
});

test('return() before the subscription is made: the source is ended as soon as it arrives', async () => {
  const { events, state } = source();
  let subscribe!: () => void;
  const made = new Promise<void>((r) => (subscribe = r));
  const feed = feedOf(async () => (await made, events), evens);
  const pending = feed.next(); // starts subscribing
  const returned = feed.return(undefined);
  subscribe();
  assert.deepEqual(await pending, { done: true, value: undefined });
  await returned;
  assert.equal(state.ended, true);
});

test('a body that finishes ends the source; one that throws ends it and rejects', async () => {
  const done = source();
  const feed = feedOf(
    async () => done.events,
    async function* (events) {
      for await (const n of events) {
        yield n;
        return;
      }
    },
  );
  const first = feed.next();
  await settle();
  done.state.emit(7);
  assert.deepEqual(await first, { done: false, value: 7 });
  assert.deepEqual(await feed.next(), { done: true, value: undefined });
  assert.equal(done.state.ended, true);

  const failing = source();
  const broken = feedOf(
    async () => failing.events,
    // eslint-disable-next-line require-yield
    async function* () {
      throw new Error('database gone');
    },
  );
  await assert.rejects(broken.next(), /database gone/);
  assert.equal(failing.state.ended, true);
});

test('throw() ends the source too', async () => {
  const { events, state } = source();
  const feed = feedOf(async () => events, evens);
  const pending = feed.next();
  await settle();
  await assert.rejects(feed.throw(new Error('client went away')), /client went away/);
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.equal(state.ended, true);
});
