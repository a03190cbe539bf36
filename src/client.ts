import * as Comlink from 'comlink'
import { RelayError } from './errors.ts'
import type {
  HubApi, HubDiagnostics, HubHello, RunError, RunEvent, RunSpec, RunStatus, RunSummary, StartAt,
  SubscriberMessage, SubscriptionTarget,
} from './protocol.ts'
import { PROTOCOL_VERSION } from './protocol-version.ts'

/** Options of `createRunRelay`. Defaults are in `RELAY_DEFAULTS`. */
export interface RelayOptions {
  /**
   * Prefix of the SharedWorker's name. Tabs with the same name (and protocol version) share one hub.
   * @defaultValue `'run-relay'`
   */
  name?: string
  /** Every call to the hub fails with a `timeout` RelayError after this long. @defaultValue 10 000 */
  callTimeoutMs?: number
  /** This client's id in the hub's diagnostics. @defaultValue a random UUID */
  clientId?: string
}

export const RELAY_DEFAULTS = {
  name: 'run-relay',
  callTimeoutMs: 10_000,
} as const

/** What a subscriber is told. Every handler is optional; a throwing handler affects nobody else. */
export interface RunHandlers {
  /** Events of a run, in order, each exactly once; one call per delivered batch. */
  onEvents?(events: RunEvent[], runId: string): void
  /** The run's status: sent once on subscribing, then on every change. */
  onStatus?(status: RunStatus, runId: string, error?: RunError): void
  /** Session subscriptions: the session has a (new) run; its events follow. */
  onRun?(run: RunSummary): void
}

export interface SubscribeOptions {
  /** @defaultValue `'beginning'` */
  startAt?: StartAt
}

/** Stops a subscription. `ready` settles when the hub has registered it. */
export interface Unsubscribe {
  (): void
  ready: Promise<void>
}

/** The page-side handle on the hub. */
export interface RunRelay {
  /** Settles after the handshake; rejects with `version_mismatch` or `timeout`. */
  readonly ready: Promise<HubHello>
  /**
   * Opens a run, or joins it if any tab already did: the hub never opens a second connection for a run.
   * Rejects with a `RelayError` whose code says what was wrong (`invalid_spec`, `url_refused`, ...).
   */
  open(spec: RunSpec): Promise<RunSummary>
  /** Follows one run or a session's runs. Returns the function that stops it. */
  subscribe(target: SubscriptionTarget, handlers: RunHandlers, options?: SubscribeOptions): Unsubscribe
  /** Calls `listener` with every run the hub holds, at once and after every change. */
  watchRuns(listener: (runs: RunSummary[]) => void): () => void
  diagnostics(): Promise<HubDiagnostics>
  /** Drops this client's subscriptions and rejects pending calls with `disposed`. */
  dispose(): void
}

/**
 * Connects the page to the shared hub (a SharedWorker shared by all tabs of
 * the origin). Many panes per tab may subscribe through one relay.
 *
 * @example
 * const relay = createRunRelay()
 * await relay.open({ runId: streamId, sessionId, url: `/api/chat/stream?stream_id=${streamId}` })
 * const stop = relay.subscribe({ sessionId }, { onEvents: (events) => render(events) })
 */
export function createRunRelay(options: RelayOptions = {}): RunRelay {
  const name = `${options.name ?? RELAY_DEFAULTS.name}@${PROTOCOL_VERSION}`
  // [vite] The worker must be written inline in this form for Vite to bundle it,
  // with a literal options object (no spread).
  const worker = new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name })
  return connectRelay(Comlink.wrap<HubApi>(worker.port), options, () => worker.port.close())
}

/** The client over any hub endpoint (a SharedWorker port, or an in-page hub). */
export function connectRelay(hub: Comlink.Remote<HubApi>, options: RelayOptions, close: () => void): RunRelay {
  const timeoutMs = options.callTimeoutMs ?? RELAY_DEFAULTS.callTimeoutMs
  const clientId = options.clientId ?? crypto.randomUUID()
  const pending = new Set<(error: RelayError) => void>()
  let disposed = false

  /** Comlink calls never settle when the other side is gone: every call gets a deadline. */
  function call<T>(what: string, invoke: () => Promise<T>): Promise<T> {
    if (disposed) return Promise.reject(new RelayError('disposed', `${what}: this relay was disposed; create a new one.`))
    return new Promise<T>((resolve, reject) => {
      const fail = (error: RelayError) => {
        clearTimeout(timer)
        pending.delete(fail)
        reject(error)
      }
      const timer = setTimeout(() => fail(new RelayError('timeout', `${what}: the hub did not answer within ${timeoutMs} ms.`)), timeoutMs)
      pending.add(fail)
      invoke().then(
        (value) => {
          clearTimeout(timer)
          pending.delete(fail)
          resolve(value)
        },
        (error: unknown) => fail(new RelayError('timeout', `${what}: ${String(error)}`)),
      )
    })
  }

  const ready = call('hello', () => hub.hello(clientId, PROTOCOL_VERSION)).then((hello) => {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      throw new RelayError('version_mismatch', `The hub speaks protocol ${hello.protocolVersion}, this page ${PROTOCOL_VERSION}: reload the page.`)
    }
    return hello
  })
  const afterHello = <T>(what: string, invoke: () => Promise<T>) => ready.then(() => call(what, invoke))

  return {
    ready,
    async open(spec) {
      const result = await afterHello<RunSummary | RunError>('open', () => hub.open(spec))
      if ('type' in result) throw new RelayError(result.code, result.message)
      return result
    },
    subscribe(target, handlers, subscribeOptions = {}) {
      const delivered = new Map<string, number>()
      const sink = Comlink.proxy({
        deliver(messages: SubscriberMessage[]) {
          for (const message of messages) dispatch(message, handlers, delivered)
        },
      })
      const id = afterHello('subscribe', () => hub.subscribe(target, subscribeOptions.startAt ?? 'beginning', sink))
      let stopped = false
      const unsubscribe = (() => {
        if (stopped) return
        stopped = true
        handlers = {}
        void id.then((subscriptionId) => call('unsubscribe', () => hub.unsubscribe(subscriptionId))).catch(() => {})
      }) as Unsubscribe
      unsubscribe.ready = id.then(() => {})
      return unsubscribe
    },
    watchRuns(listener) {
      let stopped = false
      const sink = Comlink.proxy({ update: (runs: RunSummary[]) => stopped || guard(() => listener(runs)) })
      const id = afterHello('watchRuns', () => hub.watchRuns(sink))
      return () => {
        stopped = true
        void id.then((watchId) => call('unwatchRuns', () => hub.unwatchRuns(watchId))).catch(() => {})
      }
    },
    diagnostics: () => afterHello('diagnostics', () => hub.diagnostics()),
    dispose() {
      if (disposed) return
      disposed = true
      for (const fail of [...pending]) fail(new RelayError('disposed', 'The relay was disposed while this call was pending.'))
      // Best effort: a hub that is gone cannot answer, so the port closes after a deadline either way.
      const deadline = new Promise((resolve) => setTimeout(resolve, timeoutMs))
      void Promise.race([hub.release(), deadline]).catch(() => {}).finally(close)
    },
  }
}

/**
 * Hands one message to the handlers. `delivered` holds the last seq handed over
 * per run: a second line of defence for "each exactly once".
 */
function dispatch(message: SubscriberMessage, handlers: RunHandlers, delivered: Map<string, number>): void {
  switch (message.type) {
    case 'run':
      return guard(() => handlers.onRun?.(message.run))
    case 'events': {
      const last = delivered.get(message.runId) ?? 0
      const fresh = message.events.filter((event) => event.seq > last)
      if (fresh.length === 0) return
      delivered.set(message.runId, fresh.at(-1)!.seq)
      return guard(() => handlers.onEvents?.(fresh, message.runId))
    }
    case 'status':
      return guard(() => handlers.onStatus?.(message.status, message.runId, message.error))
    default:
      return assertNever(message)
  }
}

/** A subscriber's own exception is reported, never allowed to stop delivery. */
function guard(run: () => unknown): void {
  try {
    run()
  } catch (error) {
    globalThis.reportError?.(error)
  }
}

function assertNever(value: never): never {
  throw new Error(`Unhandled message: ${JSON.stringify(value)}`)
}
