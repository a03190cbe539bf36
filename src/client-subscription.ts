import type { RunEvent, StartAt, SubscriptionTarget } from '../common/model.ts'
import type { EventColumns, HubStartAt, SubscriberMessage } from '../common/hub-wire.ts'
import type { RunHandlers, SubscribeOptions } from './relay-types.ts'
import { assertNever } from '../common/run-status.ts'

/** What the page keeps of one subscription, so it can be renewed on a new hub. */
export interface ClientSubscription {
  target: SubscriptionTarget
  handlers: RunHandlers
  startAt: StartAt
  decode?: (event: RunEvent) => void
  /**
   * What was delivered per run, most recent run last: the page cursor a new hub resumes it from.
   * `lastEventId`: the last server id, when the run has ids; `lastSeq`: the last hub seq, which
   * counts the run's events from its first for a server without ids (a new hub replays it from there).
   */
  delivered: Map<string, { lastEventId?: string; lastSeq: number }>
  /**
   * Its id in the current hub, chosen by this client so that an unsubscribe never waits for the
   * subscribe's answer: a subscribe that timed out may still arrive, and the hub honours an
   * unsubscribe of its id in either order.
   */
  subscriptionId: string
  /** Settles when the current hub has answered the subscribe (rejects on a timeout). */
  registered: Promise<void>
}

/** A subscription as `relay.subscribe` starts it, not yet registered with a hub. */
export function newSubscription(target: SubscriptionTarget, handlers: RunHandlers, options: SubscribeOptions): ClientSubscription {
  return {
    target, handlers,
    startAt: options.startAt ?? 'beginning',
    decode: options.decode === 'json' ? decodeJson : undefined,
    delivered: new Map(),
    subscriptionId: '',
    registered: Promise.resolve(),
  }
}

/**
 * Hands one message from the hub to a subscription's handlers, keeping its page cursor.
 * The hub's log cursor already guarantees each event exactly once, in order.
 */
export function handleMessage(message: SubscriberMessage, sub: ClientSubscription): void {
  const { handlers } = sub
  switch (message.type) {
    case 'run':
      return guard(() => handlers.onRun?.(message.run))
    case 'waiting':
      return guard(() => handlers.onWaiting?.(message.runId))
    case 'events': {
      const events = eventsOf(message)
      const lastId = message.ids.findLast((id) => id != null) ?? sub.delivered.get(message.runId)?.lastEventId
      sub.delivered.delete(message.runId) // keep the most recent run last
      sub.delivered.set(message.runId, { lastEventId: lastId ?? undefined, lastSeq: message.firstSeq + message.types.length - 1 })
      if (sub.decode) events.forEach(sub.decode)
      return guard(() => handlers.onEvents?.(events, message.runId))
    }
    case 'status':
      return guard(() => handlers.onStatus?.(message.status, message.runId, message.error))
    case 'resync':
      return guard(() => handlers.onResync?.(message.runId, message.reason, message.message))
    default:
      return assertNever(message, 'message')
  }
}

/** Columns from the hub back into `RunEvent` objects. */
export function eventsOf(columns: EventColumns): RunEvent[] {
  const { firstSeq, types, data, ids } = columns
  const events = new Array<RunEvent>(types.length)
  for (let i = 0; i < types.length; i++) {
    const id = ids[i]
    events[i] = id === null || id === undefined ? { seq: firstSeq + i, type: types[i]!, data: data[i]! } : { seq: firstSeq + i, type: types[i]!, data: data[i]!, id }
  }
  return events
}

/**
 * Where a renewed subscription starts on a new hub: after the last event it got, by server id; for
 * a run without ids, after as many events as it got (the new hub replays the run from its start).
 */
export function resumeAt(sub: ClientSubscription): HubStartAt {
  const runId = 'runId' in sub.target ? sub.target.runId : [...sub.delivered.keys()].at(-1)
  const delivered = runId === undefined ? undefined : sub.delivered.get(runId)
  if (runId !== undefined && delivered?.lastEventId !== undefined) return { afterEventId: delivered.lastEventId, runId }
  if (runId !== undefined && delivered !== undefined) return { afterCount: delivered.lastSeq, runId }
  // Nothing arrived yet: a hub seq means nothing to the new hub.
  return typeof sub.startAt === 'object' ? 'beginning' : sub.startAt
}

/** The runs a subscription has heard of: those it was delivered events of, and the one it names. */
export function runsOf(sub: ClientSubscription): string[] {
  const runIds = new Set(sub.delivered.keys())
  if ('runId' in sub.target) runIds.add(sub.target.runId)
  return [...runIds]
}

/** Decoding errors travel as data on the event, never as an exception. */
export function decodeJson(event: RunEvent): void {
  try {
    event.json = JSON.parse(event.data)
  } catch (error) {
    event.decodeError = `${event.type} #${event.seq}: ${(error as Error).message}`
  }
}

/** A subscriber's own exception is reported, never allowed to stop delivery. */
export function guard(run: () => unknown): void {
  try {
    run()
  } catch (error) {
    globalThis.reportError?.(error)
  }
}
