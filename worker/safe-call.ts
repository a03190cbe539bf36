/** Whether `value` is a promise or another thenable (what a Comlink call returns). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}

/**
 * Calls a page-side sink: in the page it may throw, across Comlink it returns a promise that
 * may reject (or never settle when the tab is gone). Neither may touch other subscribers.
 */
export function safeCall(call: () => unknown): void {
  try {
    const result = call()
    if (isThenable(result)) result.then(undefined, () => {})
  } catch {
    // One subscriber's failure is its own; the hub and the other subscribers go on.
  }
}
