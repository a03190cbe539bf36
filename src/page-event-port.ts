import type { EventPortMessage } from '../common/hub-wire.ts'
import { handleMessage, type ClientSubscription } from './client-subscription.ts'

/**
 * The page's end of its event port (one per link to a hub): takes each batch, hands its messages
 * to its subscription by id (`handleMessage`, which calls the pane's handlers), and acks it on the same port, which lets the hub send that subscription's
 * next batch. The hub's end is `worker/hub-event-port.ts`.
 */
export interface PageEventPort {
  /** The end to transfer to the hub (`HubApi.events`). */
  hubEnd: MessagePort
  /** The subscriptions delivered here, by id; a batch for an id not here is acked and goes to nobody. */
  subscriptions: Map<string, ClientSubscription>
  /** Tells the hub, which ends every subscription delivered here, and closes this end. */
  close(): void
}

export function openEventPort(): PageEventPort {
  const { port1, port2 } = new MessageChannel()
  const subscriptions = new Map<string, ClientSubscription>()
  const post = (message: EventPortMessage) => port1.postMessage(message)
  // Only the hub sends batches. Handled first, then acked: the next batch cannot overtake this one's handlers.
  port1.onmessage = ({ data }: MessageEvent<EventPortMessage>) => {
    if (data.type !== 'batch') return
    try {
      const sub = subscriptions.get(data.subscriptionId)
      if (sub) for (const message of data.messages) handleMessage(message, sub)
    } finally {
      post({ type: 'ack', subscriptionId: data.subscriptionId })
    }
  }
  eventPorts.add(port2)
  return {
    hubEnd: port2,
    subscriptions,
    close() {
      subscriptions.clear()
      post({ type: 'close' })
      port1.close()
    },
  }
}

/** The hub ends of event ports: the shared-tab hub carries these over its channel, not in a tunnel. */
const eventPorts = new WeakSet<MessagePort>()

export function isEventPort(port: MessagePort): boolean {
  return eventPorts.has(port)
}
