/**
 * Bumped whenever `hub-wire.ts` or `model.ts` changes in a way an older peer would misread.
 * It is part of the SharedWorker's name, so a tab of a newer build never shares
 * a worker with an older one, and it is checked again in the handshake.
 */
export const PROTOCOL_VERSION = 3
