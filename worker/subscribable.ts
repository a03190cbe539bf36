/**
 * A small listener base in the style of TanStack query-core's `Subscribable`: `subscribe` returns
 * the way to unsubscribe, and `notify` tells every listener in the order they subscribed.
 */
export class Subscribable<Notice> {
  protected readonly listeners = new Set<(notice: Notice) => void>()

  subscribe(listener: (notice: Notice) => void): () => void {
    this.listeners.add(listener)
    this.onSubscribe()
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** Called after each new listener is added. */
  protected onSubscribe(): void {}

  protected notify(notice: Notice): void {
    notifyEach(this.listeners, notice)
  }
}

/** Tells each listener `notice`. One listener's throw is reported and never stops the others. */
export function notifyEach<Notice>(listeners: Iterable<(notice: Notice) => void>, notice: Notice): void {
  // Over a copy: keep the iteration stable if a listener unsubscribes while notified.
  for (const listener of [...listeners]) {
    try {
      listener(notice)
    } catch (error) {
      globalThis.reportError?.(error)
    }
  }
}
