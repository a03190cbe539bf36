import type * as Comlink from 'comlink'
import type { HubLink } from './connectors.ts'
import type { RelayError } from './errors.ts'
import type { HubApi, HubHello, OpenedRun } from './hub-wire.ts'
import type { FeedSpec, RunError, RunSummary, StartAt } from './model.ts'
import type { OpenedRuns } from './opened-runs.ts'
import { guard, resumeAt, type ClientSubscription } from './subscription.ts'

/**
 * Recovery: a liveness ping notices a hub that stopped answering (a killed worker, a leader tab
 * that went away in shared-tab mode), and the client moves to a new hub: it connects one, says
 * hello again, re-opens the feeds and runs it opened, and renews its subscriptions and registry
 * watches, each subscription from its server cursor.
 */

/** A registry watcher: the app's gets the runs, the client's own pruning of its opened runs also the hub's count of opens. */
export type RegistryListener = (runs: RunSummary[], opens: number) => void

/** What recovery needs of the client: what it asked of the hub, and its calls to the hub. */
export interface RecoveringClient {
  isDisposed(): boolean
  /** The link to the hub in use; undefined before the first use. */
  currentLink(): HubLink | undefined
  readonly subscriptions: ReadonlySet<ClientSubscription>
  readonly feeds: ReadonlyMap<string, FeedSpec>
  readonly opened: OpenedRuns
  watchers(): Iterable<RegistryListener>
  /** The handshake with the hub in use. */
  hello(): Promise<HubHello>
  /** Closes the link to the hub in use, connects a new one and starts the handshake with it. */
  replaceHub(): Promise<HubHello>
  call<T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>): Promise<T>
  register(sub: ClientSubscription, startAt: StartAt): void
  unregister(sub: ClientSubscription): Promise<void>
  watch(listener: RegistryListener): void
}

export class HubRecovery {
  readonly #client: RecoveringClient
  #recovering: Promise<void> | undefined
  #liveness: ReturnType<typeof setInterval> | undefined

  constructor(client: RecoveringClient) {
    this.#client = client
  }

  /** Pings the hub every `livenessMs` (0: never); a ping that times out moves the client to a new hub. */
  start(livenessMs: number): void {
    if (livenessMs <= 0) return
    const client = this.#client
    this.#liveness = setInterval(() => {
      if (this.#recovering || client.isDisposed()) return
      const pinged = client.currentLink()
      client.call('ping', (hub) => hub.ping()).catch((error: RelayError) => {
        // Only a ping of the current hub counts: one that was sent to a hub already
        // replaced must not replace the new one, or every subscription would be renewed twice.
        if (error.code === 'timeout' && !client.isDisposed() && client.currentLink() === pinged) void this.recover().catch(() => {})
      })
    }, livenessMs)
  }

  stop(): void {
    clearInterval(this.#liveness)
  }

  /** The hub stopped answering: connect a new one and carry the client's state over to it. One recovery at a time. */
  recover(): Promise<void> {
    this.#recovering ??= this.#moveToNewHub().finally(() => (this.#recovering = undefined))
    return this.#recovering
  }

  async #moveToNewHub(): Promise<void> {
    const client = this.#client
    for (const sub of client.subscriptions) {
      for (const runId of sub.lastEventIds.keys()) guard(() => sub.handlers.onStatus?.('reconnecting', runId))
    }
    const previous = await client.hello().then((answer) => answer.hubId, () => undefined)
    const { hubId } = await client.replaceHub()
    if (hubId === previous) {
      // The hub was only slow, and is still there: drop the old registrations before renewing them.
      for (const sub of client.subscriptions) await client.unregister(sub)
    }
    // Every tab re-opens what it opened; the new hub replays those runs from the server's journal.
    for (const spec of client.feeds.values()) await client.call('openFeed', (hub) => hub.openFeed(spec) as Promise<unknown>).catch(() => {})
    client.opened.newHub()
    for (const spec of client.opened.specs()) {
      const result = await client.call('open', (hub) => hub.open(spec) as Promise<OpenedRun | RunError>).catch(() => undefined)
      if (result && !('type' in result)) client.opened.reopened(spec.runId, result.openNumber)
    }
    // A new hub numbers events anew: each subscription resumes from its server cursor.
    for (const sub of client.subscriptions) client.register(sub, resumeAt(sub))
    for (const listener of client.watchers()) client.watch(listener)
  }
}
