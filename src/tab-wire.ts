/**
 * The tab wire: what travels on the BroadcastChannel of the shared-tab hub, where a leader tab
 * serves the hub to the others without SharedWorker. Read only by `shared-tab.ts`; the hub
 * itself never sees it (it gets plain Comlink messages on a point-to-point endpoint). Types, and
 * the guards of the two placeholders that stand for a MessagePort inside a message.
 */

import type { EventPortMessage } from '../common/hub-wire.ts'
export type TabWire =
  /** A Comlink message from a follower's endpoint to the leader's hub. */
  | { kind: 'to-leader'; from: string; data: unknown }
  /** A Comlink message from the leader's hub to one follower endpoint. */
  | { kind: 'to-follower'; to: string; data: unknown }
  /** A message through a tunnelled MessagePort; only the two tabs that know `port` act on it. */
  | { kind: 'port'; port: string; data: unknown }
  /** The tab that sent it closed its end of a tunnelled port (the hub, as a caller's own subscription ended): drop the other end. */
  | { kind: 'port-closed'; port: string }

/**
 * The event port of a follower tab (`EventPortMessage` in `../common/hub-wire.ts`): a BroadcastChannel
 * cannot carry a MessagePort, so its messages travel on the channel, addressed by the follower's
 * endpoint id like that endpoint's Comlink messages.
 */
export type EventPortWire =
  /** An event-port message from a follower's page to the leader's hub. */
  | { kind: 'events-to-leader'; from: string; data: EventPortMessage }
  /** An event-port message from the leader's hub to one follower's page. */
  | { kind: 'events-to-follower'; to: string; data: EventPortMessage }

/** Stands for a MessagePort inside a message on the channel: the port is tunnelled under this id. */
export interface PortPlaceholder {
  tunnelledPort: string
}

/** Stands for a follower's event port: its messages travel as `EventPortWire`, addressed by the follower's endpoint id. */
export interface EventPortPlaceholder {
  eventPortOf: string
}

export function isPlaceholder(value: unknown): value is PortPlaceholder {
  return typeof value === 'object' && value !== null && typeof (value as PortPlaceholder).tunnelledPort === 'string'
}

export function isEventPlaceholder(value: unknown): value is EventPortPlaceholder {
  return typeof value === 'object' && value !== null && typeof (value as EventPortPlaceholder).eventPortOf === 'string'
}
