import type { EventPortMessage, SubscriberMessage } from './hub-wire.ts'

/**
 * The page's end of its event port (one per connection to a hub): takes each batch, hands it to
 * its subscription by id, and acks it on the same port, which lets the hub send that
 * subscription's next batch. The hub's end is `worker/event-port.ts`.
 */
export class PageEventPort {
  /** The end to transfer to the hub (`HubApi.events`). */
  readonly hubEnd: MessagePort
  readonly #port: MessagePort
  readonly #receivers = new Map<string, (messages: SubscriberMessage[]) => void>()

  constructor() {
    const { port1, port2 } = new MessageChannel()
    this.#port = port1
    this.hubEnd = port2
    eventPorts.add(port2)
    port1.onmessage = (event: MessageEvent<EventPortMessage>) => this.#receive(event.data)
  }

  /** Batches for `subscriptionId` go to `receive` until `unroute`. */
  route(subscriptionId: string, receive: (messages: SubscriberMessage[]) => void): void {
    this.#receivers.set(subscriptionId, receive)
  }

  unroute(subscriptionId: string): void {
    this.#receivers.delete(subscriptionId)
  }

  /** Tells the hub, which ends every subscription delivered here, and closes this end. */
  close(): void {
    this.#receivers.clear()
    this.#port.postMessage({ type: 'close' } satisfies EventPortMessage)
    this.#port.close()
  }

  #receive(message: EventPortMessage): void {
    switch (message.type) {
      case 'batch': {
        // Handled first, then acked: the hub's next batch cannot overtake this one's handlers.
        // A batch for a subscription that has ended here is acked too, and goes to nobody.
        try {
          this.#receivers.get(message.subscriptionId)?.(message.messages)
        } finally {
          this.#port.postMessage({ type: 'ack', subscriptionId: message.subscriptionId } satisfies EventPortMessage)
        }
        return
      }
      case 'ack':
      case 'close':
        return // only the page sends these
      default:
        return assertNever(message)
    }
  }
}

/** The hub ends of event ports: the shared-tab hub carries these over its channel, not in a tunnel. */
const eventPorts = new WeakSet<MessagePort>()

export function isEventPort(port: MessagePort): boolean {
  return eventPorts.has(port)
}

function assertNever(value: never): never {
  throw new Error(`Unknown message on the event port: ${JSON.stringify(value)}`)
}
