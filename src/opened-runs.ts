import type { RunSpec, RunSummary } from '../common/model.ts'
import { isFinal } from '../common/run-status.ts'

/**
 * The runs a client opened that are still live: what it opens again on a new hub after the old
 * one vanished. Each reopened run costs a server connection, so a run leaves this list when the
 * app closes it, when it ends or fails, and when the hub evicts it (the client follows the hub's
 * registry while the list is not empty).
 */
export class OpenedRuns {
  /** Each spec with the `openNumber` the current hub gave its open (0 until a hub has). */
  readonly #specs = new Map<string, { spec: RunSpec; openNumber: number }>()

  get size(): number {
    return this.#specs.size
  }

  specs(): RunSpec[] {
    return [...this.#specs.values()].map(({ spec }) => spec)
  }

  /** `openNumber`: what the hub answered to this open. */
  add(spec: RunSpec, openNumber: number): void {
    this.#specs.set(spec.runId, { spec, openNumber })
  }

  delete(runId: string): void {
    this.#specs.delete(runId)
  }

  /**
   * A snapshot of the hub's registry, listed after `opens` opens. A run that is not listed was
   * evicted only if the hub had handled its open by then: a snapshot taken before may arrive
   * after the open's answer (they travel on different ports).
   */
  update(runs: readonly RunSummary[], opens: number): void {
    const byId = new Map(runs.map((run) => [run.runId, run]))
    for (const [runId, { openNumber }] of [...this.#specs]) {
      const run = byId.get(runId)
      if (run && isFinal(run.status)) this.delete(runId)
      else if (!run && openNumber > 0 && openNumber <= opens) this.delete(runId)
    }
  }

  /** A new hub numbers opens anew: until it has answered them, no snapshot of it can prove an eviction. */
  newHub(): void {
    for (const entry of this.#specs.values()) entry.openNumber = 0
  }

  /** The new hub answered a reopen. */
  reopened(runId: string, openNumber: number): void {
    const entry = this.#specs.get(runId)
    if (entry) entry.openNumber = openNumber
  }
}
