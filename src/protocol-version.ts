/**
 * Bumped whenever `protocol.ts` changes in a way an older peer would misread.
 * It is part of the SharedWorker's name, so a tab of a newer build never shares
 * a worker with an older one, and it is checked again in the handshake.
 */
export const PROTOCOL_VERSION = 1

/** The Web Lock a client holds for its whole life; the hub waits for it to learn the client is gone. */
export function clientLockName(clientId: string): string {
  return `run-relay:client:${clientId}`
}

/**
 * The hub's way to learn that a client is gone (closed or crashed): a MessagePort has no
 * close event, but the client's life lock is released with its tab, and this request is then granted.
 */
export function watchClientLock(clientId: string, gone: () => void): void {
  void navigator.locks.request(clientLockName(clientId), () => gone())
}
