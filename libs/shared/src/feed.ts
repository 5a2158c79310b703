/**
 * A subscription feed: an async generator over an event source whose return() ends the source
 * first. A plain async generator acts on return() only at its next `yield`, so one waiting for an
 * event it will filter out (another image's, another collection's) would never reach its `finally`
 * when the client unsubscribes or disconnects: its subscription would stay, and take every event,
 * for ever. Ending the source ends the generator's pending read, and with it the generator.
 */
export function feedOf<E, T>(
  subscribe: () => Promise<AsyncIterableIterator<E>>,
  body: (events: AsyncIterableIterator<E>) => AsyncGenerator<T>,
): AsyncGenerator<T, void, undefined> {
  let events: AsyncIterableIterator<E> | undefined;
  let ended = false;
  const generator = (async function* () {
    const source = await subscribe();
    events = source;
    try {
      // Ended while the subscription was being made: nobody is reading any more.
      if (ended) return;
      yield* body(source);
    } finally {
      await source.return?.();
    }
  })();
  const end = async () => {
    ended = true;
    await events?.return?.();
  };
  const feed: AsyncGenerator<T, void, undefined> = {
    next: () => generator.next(),
    async return(value) {
      await end();
      return generator.return(value);
    },
    async throw(error) {
      await end();
      return generator.throw(error);
    },
    [Symbol.asyncIterator]: () => feed,
  };
  return feed;
}
