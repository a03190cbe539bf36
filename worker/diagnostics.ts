import type { HubDiagnostics } from '../common/hub-wire.ts'
import type { Feed } from './feed.ts'
import type { BudgetKeeper } from './hub-budget.ts'
import type { Run } from './run.ts'
import { listenedNames } from './server-contract.ts'
import type { HubSubscription } from './hub-subscription.ts'

/** What the hub holds, as `hubDiagnostics` reads it. */
export interface HubState {
  hubId: string
  online: boolean
  runs: ReadonlyMap<string, Run>
  feeds: ReadonlyMap<string, Feed>
  subscriptions: ReadonlyMap<string, HubSubscription>
  clients: ReadonlySet<string>
  budget: BudgetKeeper
}

/** A snapshot of the hub for tests and the demo's panel: plain data, read only. */
export function hubDiagnostics(hub: HubState): HubDiagnostics {
  const connections: Record<string, number> = {}
  const connectionsOpened: Record<string, number> = {}
  const listening: Record<string, string[] | 'all'> = {}
  const logBytes: Record<string, number> = {}
  const invalidText: Record<string, number> = {}
  for (const [runId, run] of hub.runs) {
    connections[runId] = run.connected ? 1 : 0
    connectionsOpened[runId] = run.connectionsOpened
    listening[runId] = listenedNames(run.contract)
    logBytes[runId] = run.log.bytes
    if (run.invalidText > 0) invalidText[runId] = run.invalidText
  }
  const subscriptionsByClient: Record<string, number> = {}
  for (const clientId of hub.clients) subscriptionsByClient[clientId] = 0
  for (const sub of hub.subscriptions.values()) subscriptionsByClient[sub.clientId] = (subscriptionsByClient[sub.clientId] ?? 0) + 1
  const feeds = [...hub.feeds.values()].map((feed) => ({ ...feed.summary(), connected: feed.connected, connectionsOpened: feed.connectionsOpened }))
  const open = [...hub.runs.values(), ...hub.feeds.values()].filter((holder) => holder.connected).length
  const budget = { protocol: hub.budget.protocol, limit: hub.budget.limit, open }
  return {
    hubId: hub.hubId, online: hub.online, runs: [...hub.runs.values()].map((run) => run.summary()), feeds, connections, connectionsOpened, listening, logBytes, invalidText, budget,
    subscriptionsByClient, clients: hub.clients.size,
  }
}
