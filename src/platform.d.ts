// Chromium 148+: keeps a SharedWorker alive briefly after its last client unloads.
// Not yet in TypeScript's DOM lib; other browsers ignore the unknown option.
interface WorkerOptions {
  extendedLifetime?: boolean
}
