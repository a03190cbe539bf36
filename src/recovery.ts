import type * as Comlink from 'comlink'
import type { HubApi, HubHello, HubStartAt, OpenedRun } from '../common/hub-wire.ts'
import type { FeedSpec, RunError, RunSummary } from '../common/model.ts'
import type { OpenedRuns } from './opened-runs.ts'
import { guard, resumeAt, runsOf, type ClientSubscription } from './client-subscription.ts'

/**
 * Recovery: when the client's liveness ping finds that its hub stopped answering (a killed
 * worker, a leader tab that went away in shared-tab mode), the client moves to a new hub: it
 * connects one, says hello again, re-opens the feeds and runs it opened, and renews its
 * subscriptions and registry watches, each subscription from its page cursor.
 */

/** A registry watcher: the app's gets the runs, the client's own pruning of its opened runs also the hub's count of opens. */
export type RegistryListener = (runs: RunSummary[], opens: number) => void

/** What recovery needs of the client: what it asked of the hub in use, and its calls to the hub. */
export interface RecoveringClient {
  readonly subscriptions: ReadonlySet<ClientSubscription>
  readonly feeds: ReadonlyMap<string, FeedSpec>
  readonly opened: OpenedRuns
  readonly watches: ReadonlyMap<RegistryListener, unknown>
  /** The handshake with the hub in use. */
  hello(): Promise<HubHello>
  /** Closes the link to the hub in use, connects a new one and starts the handshake with it. */
  replaceHub(): Promise<HubHello>
  call<T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>): Promise<T>
  register(sub: ClientSubscription, startAt: HubStartAt): void
  unregister(sub: ClientSubscription): Promise<void>
  watch(listener: RegistryListener): void
}

/** The hub stopped answering: connect a new one and carry the client's state over to it. */
export async function moveToNewHub(client: RecoveringClient): Promise<void> {
  for (const sub of client.subscriptions) {
    for (const runId of runsOf(sub)) guard(() => sub.handlers.onStatus?.('reconnecting', runId))
  }
  const previous = await client.hello().then((answer) => answer.hubId, () => undefined)
  const { hubId } = await client.replaceHub()
  if (hubId === previous) {
    // The hub was only slow, and is still there: drop the old registrations before renewing them.
    for (const sub of client.subscriptions) await client.unregister(sub)
  }
  // Every tab re-opens what it opened; the new hub replays those runs from the server's journal.
  // `resumed`: the old hub sent each run's first request, so the new one never repeats it (a POST
  // that starts a turn): it resumes through `resumeUrl`, or the run fails as `unresumable`.
  for (const spec of client.feeds.values()) await client.call('openFeed', (hub) => hub.openFeed(spec) as Promise<unknown>).catch(() => {})
  client.opened.newHub()
  for (const spec of client.opened.specs()) {
    const result = await client.call('open', (hub) => hub.open(spec, { resumed: true }) as Promise<OpenedRun | RunError>).catch(() => undefined)
    if (result && !('type' in result)) client.opened.reopened(spec.runId, result.openNumber)
  }
  // A new hub numbers events anew: each subscription resumes from its page cursor (the last server id it handled, or its count).
  for (const sub of client.subscriptions) client.register(sub, resumeAt(sub))
  for (const listener of client.watches.keys()) client.watch(listener)
}
