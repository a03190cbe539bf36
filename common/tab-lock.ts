/**
 * A client's life lock. A MessagePort's close event is not in every engine (where it is missing, a tab that closes or crashes is invisible to the worker), so each
 * client holds a Web Lock named after itself for its whole life; the hub requests the same
 * lock and is granted it once the tab is gone, closed or crashed.
 */

/** The Web Lock a client holds for its whole life. */
export function clientLockName(clientId: string): string {
  return `run-relay:client:${clientId}`
}

/**
 * Holds the Web Lock named after this client until `release()`. The browser
 * releases it when the tab closes or crashes, and the hub, waiting for it,
 * learns the tab is gone.
 */
export function holdLifeLock(clientId: string): { held: Promise<void>; release: () => void } {
  let release = () => {}
  const locks = globalThis.navigator?.locks
  if (!locks) return { held: Promise.resolve(), release }
  const released = new Promise<void>((resolve) => (release = resolve))
  const held = new Promise<void>((resolve) => void locks.request(clientLockName(clientId), () => (resolve(), released)))
  return { held, release }
}

/** The hub side: calls `gone` once the client's life lock is free, that is once the client is gone. */
export function watchClientLock(clientId: string, gone: () => void): void {
  void navigator.locks.request(clientLockName(clientId), () => gone())
}
