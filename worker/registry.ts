import type { RegistrySink, RunSummary } from '../src/protocol.ts'
import { safeCall } from './safe-call.ts'

interface Watch {
  clientId: string
  sink: RegistrySink
}

/**
 * The run registry's watchers (sidebars' running dots): a snapshot at once, then at most
 * one per `throttleMs` after changes, so a token stream does not become a registry stream.
 */
export class RegistryWatches {
  readonly #watches = new Map<number, Watch>()
  readonly #snapshot: () => RunSummary[]
  readonly #throttleMs: number
  readonly #timers: { set(callback: () => void, ms: number): unknown }
  #timer: unknown

  constructor(snapshot: () => RunSummary[], throttleMs: number, timers: { set(callback: () => void, ms: number): unknown }) {
    this.#snapshot = snapshot
    this.#throttleMs = throttleMs
    this.#timers = timers
  }

  add(id: number, clientId: string, sink: RegistrySink): void {
    this.#watches.set(id, { clientId, sink })
    safeCall(() => sink.update(this.#snapshot()))
  }

  remove(id: number): void {
    this.#watches.delete(id)
  }

  removeClient(clientId: string): void {
    for (const [id, watch] of this.#watches) if (watch.clientId === clientId) this.#watches.delete(id)
  }

  changed(): void {
    if (this.#watches.size === 0) return
    this.#timer ??= this.#timers.set(() => {
      this.#timer = undefined
      const snapshot = this.#snapshot()
      for (const watch of [...this.#watches.values()]) safeCall(() => watch.sink.update(snapshot))
    }, this.#throttleMs)
  }
}
