import type { RunSummary } from '../common/model.ts'
import type { RegistrySink } from '../common/hub-wire.ts'
import { safeCall } from './safe-call.ts'

/** The runs, and how many `open` calls the hub had handled when it listed them. */
export interface RegistrySnapshot {
  runs: RunSummary[]
  opens: number
}

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
  readonly #snapshot: () => RegistrySnapshot
  readonly #throttleMs: number
  readonly #timers: { set(callback: () => void, ms: number): unknown }
  #timer: unknown

  constructor(snapshot: () => RegistrySnapshot, throttleMs: number, timers: { set(callback: () => void, ms: number): unknown }) {
    this.#snapshot = snapshot
    this.#throttleMs = throttleMs
    this.#timers = timers
  }

  add(id: number, clientId: string, sink: RegistrySink): void {
    this.#watches.set(id, { clientId, sink })
    const { runs, opens } = this.#snapshot()
    safeCall(() => sink.update(runs, opens))
  }

  remove(id: number): void {
    this.#watches.delete(id)
  }

  removeClient(clientId: string): void {
    for (const [id, watch] of this.#watches) if (watch.clientId === clientId) this.#watches.delete(id)
  }

  /** Listens to a run (a feed's changes come through `changed`): new events and status changes update the list; a hole does not. */
  readonly listener = (notice: { type: string }): void => {
    if (notice.type !== 'hole') this.changed()
  }

  changed(): void {
    if (this.#watches.size === 0) return
    this.#timer ??= this.#timers.set(() => {
      this.#timer = undefined
      const { runs, opens } = this.#snapshot()
      for (const watch of [...this.#watches.values()]) safeCall(() => watch.sink.update(runs, opens))
    }, this.#throttleMs)
  }
}
