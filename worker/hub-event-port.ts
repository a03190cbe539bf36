import * as Comlink from 'comlink'
import { hubEnds } from '../common/hub-ends.ts'
import type { EventPortMessage, SubscriberMessage, SubscriberSink } from '../common/hub-wire.ts'
import { assertNever } from '../common/run-status.ts'
import { safeCall } from './safe-call.ts'

/**
 * The hub's end of one client's event port: a `SubscriberSink` per subscription, each batch
 * one plain message keyed by the subscription's id, and `deliver` settling on the page's ack.
 * The page's end is `src/page-event-port.ts`.
 */
export class HubEventPort {
  readonly #port: MessagePort
  readonly #onClose: (subscriptionIds: string[]) => void
  /** The subscriptions delivered on this port, each with the ack its batch in flight waits for. */
  readonly #sinks = new Map<string, { acked?: () => void }>()
  #closed = false

  /** `onClose` gets the subscriptions still delivered here when the page closes its end. */
  constructor(port: MessagePort, onClose: (subscriptionIds: string[]) => void) {
    this.#port = port
    this.#onClose = onClose
    port.onmessage = (event: MessageEvent<EventPortMessage>) => this.#receive(event.data)
    // Where the browser has it (Chromium), a MessagePort fires `close` when its other end goes
    // with its page, a crash included; elsewhere the client's life lock frees its subscriptions.
    port.addEventListener('close', () => this.#close())
    hubEnds.set(port, this)
  }

  /** How many subscriptions are delivered on this port now. */
  get size(): number {
    return this.#sinks.size
  }

  /** The sink of one subscription; `release` once the subscription has ended. */
  sink(subscriptionId: string): { sink: SubscriberSink; release: () => void } {
    // A repeat of a live id (the hub refuses it and releases this sink at once) must not
    // replace the live subscription's entry, or that one's next batch would wait for ever.
    if (this.#sinks.has(subscriptionId)) return { sink: { deliver: () => Promise.resolve() }, release: () => {} }
    const entry: { acked?: () => void } = {}
    this.#sinks.set(subscriptionId, entry)
    const sink: SubscriberSink = {
      deliver: (messages: SubscriberMessage[]) => {
        // A closed port is never acked: the subscription keeps its one batch until it is freed.
        if (this.#closed || this.#sinks.get(subscriptionId) !== entry) return new Promise<void>(() => {})
        return new Promise<void>((resolve) => {
          entry.acked = resolve
          this.#port.postMessage({ type: 'batch', subscriptionId, messages } satisfies EventPortMessage)
        })
      },
    }
    const release = () => {
      if (this.#sinks.get(subscriptionId) === entry) this.#sinks.delete(subscriptionId)
    }
    return { sink, release }
  }

  #receive(message: EventPortMessage): void {
    switch (message.type) {
      case 'ack': {
        const entry = this.#sinks.get(message.subscriptionId)
        const acked = entry?.acked
        if (!entry || !acked) return
        entry.acked = undefined
        return acked()
      }
      case 'close':
        return this.#close()
      case 'batch':
        return // only the hub sends batches
      default:
        return assertNever(message, 'message on the event port')
    }
  }

  #close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#port.close()
    this.#onClose([...this.#sinks.keys()])
  }
}

/**
 * The sink of a subscription whose caller passed a port of its own (a direct caller of the hub API,
 * not the page's client): a Comlink proxy. Released with its subscription: Comlink's release lets the
 * page close its end, and closing ours ends the channel (and, between tabs, its tunnel: see shared-tab.ts).
 */
export function comlinkSink(port: MessagePort): { sink: SubscriberSink; release: () => void } {
  const sink = Comlink.wrap<SubscriberSink>(port)
  return { sink, release: () => { safeCall(() => sink[Comlink.releaseProxy]()); port.close() } }
}
