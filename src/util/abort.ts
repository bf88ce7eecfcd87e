/**
 * Abort callbacks without one event listener per waiter. A daemon shares one AbortSignal across every
 * poll, sleep, semaphore wait and download of all its LMDBs; registering a listener for each of them
 * would put dozens on that signal in a large fleet (and Node warns of a leak past 10). Here each signal
 * gets a single real listener that fans out to the callbacks registered through onAbort.
 */
const callbacks = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls fn once when `signal` aborts; returns a function that unregisters it (call it when done). */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = callbacks.get(signal);
  if (!set) {
    const created = new Set<() => void>();
    set = created;
    callbacks.set(signal, created);
    signal.addEventListener('abort', () => {
      callbacks.delete(signal);
      for (const cb of created) cb();
      created.clear();
    }, { once: true });
  }
  set.add(fn);
  const registered = set;
  return () => {
    registered.delete(fn);
  };
}

/**
 * A signal of its own for one operation, aborted when `parent` aborts, through the parent's single
 * fan-out listener (see onAbort). For libraries that add a listener per call (the AWS SDK adds one per
 * request): theirs then go on this short-lived signal. dispose() unlinks it once the operation is over.
 */
export function childSignal(parent: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  if (parent.aborted) {
    ac.abort(parent.reason);
    return { signal: ac.signal, dispose: () => {} };
  }
  const dispose = onAbort(parent, () => ac.abort(parent.reason));
  return { signal: ac.signal, dispose };
}

/**
 * `signal.aborted`, read afresh. After an `await`, TypeScript still narrows `signal.aborted` to the value
 * an earlier check saw (it does not know the signal can abort meanwhile); this call is not narrowed.
 */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/**
 * `signal.reason`, passed on as it is, typed as the Error it is here: this project aborts with Errors
 * (and abort() without a reason gives a DOMException, an Error too).
 */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason as Error;
}
