import * as Comlink from 'comlink'
import { isEventPort } from './page-event-port.ts'
import { hubEnds } from '../common/hub-ends.ts'
import type { EventPortMessage, HubApi } from '../common/hub-wire.ts'
import { isEventPlaceholder, isPlaceholder, type EventPortPlaceholder, type EventPortWire, type PortPlaceholder, type TabWire } from './tab-wire.ts'
import { assertNever } from '../common/run-status.ts'
import { holdLifeLock, watchClientLock } from '../common/tab-lock.ts'

/**
 * Sharing one hub across tabs without SharedWorker (Android WebView, in-app browsers):
 * the tab that holds the Web Lock `run-relay:leader:<name>` runs the hub, and the
 * other tabs reach it over a BroadcastChannel. When the leader tab goes, the lock
 * passes to a waiting tab, which starts a new hub; the clients' liveness check then
 * moves them over (re-opening runs, renewing subscriptions from their page cursors).
 *
 * Comlink needs point-to-point endpoints and transfers a MessagePort for every
 * proxy (a run-list watcher's sink, a direct caller's subscription sink). A BroadcastChannel
 * is neither, so this file addresses messages to one peer and tunnels each transferred port
 * through the channel under an id. A follower's event port (its deliveries) is not tunnelled:
 * its messages travel as `EventPortWire`, addressed by the follower's endpoint id.
 */

type Wire = TabWire | EventPortWire

type Listener = (event: { data: unknown }) => void

/** The peer of every tunnel a follower opens: it talks to whichever tab leads. */
const LEADER = 'leader'

/**
 * One tab's side of the channel: the tunnel ends it owns, and the listeners of its endpoints.
 *
 * A tunnel ends when the side that received the port closes it (the hub closes a caller's own
 * subscription port when that subscription ends): this tab then tells the other one, and both drop their ends. A tunnel whose peer tab is gone (closed, crashed) can get no answer, so
 * the leader also drops every tunnel of a follower once that follower's life lock is free.
 */
class Channel {
  readonly #channel: BroadcastChannel
  readonly #tunnels = new Map<string, { port: MessagePort; peer: string }>()
  readonly #listeners = new Set<(wire: Wire) => void>()
  /**
   * Event ports by follower endpoint id: in a follower, the hub end its page made; in the leader,
   * the end that routes to the channel, with the hub's end, whose subscriptions `tunnels` counts.
   */
  readonly #eventEnds = new Map<string, { port: MessagePort; hubEnd?: MessagePort; inbound: EventPortWire['kind'] }>()
  #nextPort = 0

  constructor(name: string) {
    this.#channel = new BroadcastChannel(`run-relay:${name}`)
    this.#channel.onmessage = (event: MessageEvent<Wire>) => this.receive(event.data)
  }

  /** Handles a message as if it had just arrived (a BroadcastChannel never echoes to its sender). */
  receive(wire: Wire): void {
    switch (wire.kind) {
      case 'to-leader':
      case 'to-follower':
        for (const listener of [...this.#listeners]) listener(wire)
        return
      case 'port': {
        const tunnel = this.#tunnels.get(wire.port)
        tunnel?.port.postMessage(this.decode(wire.data, tunnel.peer))
        return
      }
      case 'port-closed':
        return this.#drop(wire.port)
      case 'events-to-leader':
      case 'events-to-follower': {
        const id = wire.kind === 'events-to-leader' ? wire.from : wire.to
        const end = this.#eventEnds.get(id)
        if (end?.inbound === wire.kind) end.port.postMessage(wire.data)
        return
      }
      default:
        return assertNever(wire, 'message on the shared-tab channel')
    }
  }

  /**
   * What this tab carries per subscription for other tabs now: tunnelled ports, and the
   * subscriptions its hub delivers on followers' event ports. Each ends with its subscription,
   * or with its peer tab.
   */
  get tunnels(): number {
    let delivered = 0
    for (const { hubEnd } of this.#eventEnds.values()) if (hubEnd) delivered += hubEnds.get(hubEnd)?.size ?? 0
    return this.#tunnels.size + delivered
  }

  post(wire: Wire): void {
    this.#channel.postMessage(wire)
  }

  listen(listener: (wire: Wire) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Replaces each transferred port by a placeholder; the port becomes this tab's end of a tunnel to `peer`,
   * or, for an event port sent by the follower endpoint `endpointId`, its end of that endpoint's events.
   */
  encode(data: unknown, peer: string, transfer: Transferable[] = [], endpointId?: string): unknown {
    const ports = transfer.filter((item): item is MessagePort => item instanceof MessagePort)
    if (ports.length === 0) return data
    return replace(data, (value) => {
      if (!(value instanceof MessagePort) || !ports.includes(value)) return undefined
      if (endpointId !== undefined && isEventPort(value)) {
        this.#openEvents(endpointId, value, 'events-to-follower')
        return { eventPortOf: endpointId } satisfies EventPortPlaceholder
      }
      const id = `${crypto.randomUUID()}:${this.#nextPort++}`
      this.#open(id, value, peer)
      return { tunnelledPort: id } satisfies PortPlaceholder
    })
  }

  /** Replaces each placeholder by a fresh port whose other end is this tab's end of the tunnel. */
  decode(data: unknown, peer: string): unknown {
    return replace(data, (value) => {
      if (isEventPlaceholder(value)) {
        // The leader's side of a follower's event port: the hub gets a real port, whose other end routes to the channel.
        const { port1, port2 } = new MessageChannel()
        this.#openEvents(value.eventPortOf, port2, 'events-to-leader', port1)
        return port1
      }
      if (!isPlaceholder(value)) return undefined
      const { port1, port2 } = new MessageChannel()
      const id = value.tunnelledPort
      this.#open(id, port2, peer)
      // The port this tab's side gets: when it closes it (the hub, as a caller's own subscription ends), the
      // tunnel ends on both tabs, one task later so that what was posted before passes first.
      port1.close = () => {
        MessagePort.prototype.close.call(port1)
        setTimeout(() => {
          if (!this.#tunnels.has(id)) return
          this.post({ kind: 'port-closed', port: id })
          this.#drop(id)
        }, 0)
      }
      return port1
    })
  }

  /** Drops every tunnel to `peer`, a tab that is gone, and its event port: the hub ends what it delivered there. */
  dropPeer(peer: string): void {
    for (const [id, tunnel] of [...this.#tunnels]) if (tunnel.peer === peer) this.#drop(id)
    const events = this.#eventEnds.get(peer)
    if (events?.hubEnd) events.port.postMessage({ type: 'close' } satisfies EventPortMessage)
    this.#dropEvents(peer)
  }

  /** `inbound`: the kind of wire message whose data goes into `port`; what `port` receives goes out as the other kind. */
  #openEvents(id: string, port: MessagePort, inbound: EventPortWire['kind'], hubEnd?: MessagePort): void {
    this.#eventEnds.set(id, { port, hubEnd, inbound })
    port.onmessage = (event: MessageEvent<EventPortMessage>) => {
      const data = event.data
      this.post(inbound === 'events-to-follower' ? { kind: 'events-to-leader', from: id, data } : { kind: 'events-to-follower', to: id, data })
      if (data.type === 'close') this.#dropEvents(id) // the page closed its end
    }
  }

  #dropEvents(id: string): void {
    this.#eventEnds.get(id)?.port.close()
    this.#eventEnds.delete(id)
  }

  #open(id: string, port: MessagePort, peer: string): void {
    this.#tunnels.set(id, { port, peer })
    port.onmessage = (event) => this.post({ kind: 'port', port: id, data: this.encode(event.data, peer, [...event.ports]) })
  }

  #drop(id: string): void {
    this.#tunnels.get(id)?.port.close()
    this.#tunnels.delete(id)
  }
}

/** A Comlink endpoint made of a send function and a filter on the channel; its tunnels lead to `peer`. */
function endpoint(
  channel: Channel, peer: string, send: (data: unknown) => Wire, accept: (wire: Wire) => unknown, onClose = () => {}, endpointId?: string,
): Comlink.Endpoint & { close(): void } {
  const listeners = new Map<EventListenerOrEventListenerObject, () => void>()
  return {
    postMessage: (data: unknown, transfer?: Transferable[]) => channel.post(send(channel.encode(data, peer, transfer, endpointId))),
    addEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const call = listener as unknown as Listener
      listeners.set(listener, channel.listen((wire) => {
        const data = accept(wire)
        if (data !== undefined) call({ data: channel.decode(data, peer) })
      }))
    },
    removeEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      listeners.get(listener)?.()
      listeners.delete(listener)
    },
    close: onClose,
  }
}

interface Joined {
  channel: Channel
  /** Settles once this tab knows whether it leads (a lock granted at once) or follows. */
  decided: Promise<void>
  /** This tab's hub, once it leads. */
  hub?: { connect(): HubApi }
}

const joinedTabs = new Map<string, Joined>()

/** What this tab carries for other tabs for `name`: tunnelled ports, plus the subscriptions its hub delivers on followers' event ports (diagnostics: neither may pile up). */
export function tunnelCount(name: string): number {
  return joinedTabs.get(name)?.channel.tunnels ?? 0
}

/**
 * Joins the tabs sharing `name`: leads if nobody does (else queues to take over
 * when the leader tab goes). Returns a function that gives an endpoint to
 * whichever tab leads at the time it is called. `createHub` starts this tab's
 * hub when it leads.
 */
export function sharedTabEndpoints(name: string, createHub: () => Promise<{ connect(): HubApi }>): () => Promise<Comlink.Endpoint> {
  let joined = joinedTabs.get(name)
  if (!joined) {
    joined = join(name, createHub)
    joinedTabs.set(name, joined)
  }
  const tab = joined
  return () =>
    tab.decided.then((): Comlink.Endpoint | Promise<Comlink.Endpoint> => {
      if (tab.hub) {
        const { port1, port2 } = new MessageChannel()
        Comlink.expose(tab.hub.connect(), port2)
        return port1
      }
      // The leader drops this endpoint's tunnels once its lock is free: closed here, or the tab gone.
      const id = crypto.randomUUID()
      const life = holdLifeLock(followerLockId(id))
      return life.held.then(() =>
        endpoint(tab.channel, LEADER, (data) => ({ kind: 'to-leader', from: id, data }), (w) => (w.kind === 'to-follower' && w.to === id ? w.data : undefined), life.release, id),
      )
    })
}

function join(name: string, createHub: () => Promise<{ connect(): HubApi }>): Joined {
  const lock = `run-relay:leader:${name}`
  const joined: Joined = { channel: new Channel(name), decided: Promise.resolve() }
  joined.decided = new Promise<void>((decide) => {
    /** Holds the lock for the rest of this tab's life; `decide` once the hub serves. */
    const lead = async () => {
      try {
        joined.hub = await createHub()
        serveFollowers(joined.channel, joined.hub)
      } finally {
        decide() // even if the hub failed to load: calls then time out instead of hanging
      }
      return new Promise(() => {})
    }
    void navigator.locks.request(lock, { ifAvailable: true }, (granted) => {
      if (granted) return lead()
      decide() // someone leads: follow, and queue to take over when that tab goes
      void navigator.locks.request(lock, lead)
      return undefined
    })
  })
  return joined
}

/** The leader serves each follower endpoint with its own hub client, created on its first message. */
function serveFollowers(channel: Channel, hub: { connect(): HubApi }): void {
  const followers = new Set<string>()
  channel.listen((wire) => {
    if (wire.kind !== 'to-leader' || followers.has(wire.from)) return
    followers.add(wire.from)
    const from = wire.from
    watchClientLock(followerLockId(from), () => channel.dropPeer(from))
    Comlink.expose(hub.connect(), endpoint(channel, from, (data) => ({ kind: 'to-follower', to: from, data }), (w) => (w.kind === 'to-leader' && w.from === from ? w.data : undefined)))
    channel.receive(wire) // the first message arrived before the endpoint listened: hand it over
  })
}

/** The life lock a follower endpoint holds (see `../common/tab-lock.ts`). */
function followerLockId(endpointId: string): string {
  return `shared-tab-follower:${endpointId}`
}

/** Deep-copies plain objects and arrays, replacing values for which `swap` returns something. */
function replace(value: unknown, swap: (value: unknown) => unknown): unknown {
  const swapped = swap(value)
  if (swapped !== undefined) return swapped
  if (Array.isArray(value)) return value.map((item) => replace(item, swap))
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replace(item, swap)]))
  }
  return value
}
