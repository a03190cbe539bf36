/**
 * Framework-neutral stores over a relay (`run-relay/store`): what the React hooks, the Vue
 * composables and the Svelte stores are built on, and what any other framework can read.
 *
 * A store holds no subscription of its own: it subscribes to the relay when its first listener
 * comes and unsubscribes after its last one leaves (nanostores' lifecycle), so a store created in
 * a component that never mounts, or during server rendering, holds nothing. Each new subscription
 * starts from the beginning of the run and from the initial state, so a remount (StrictMode, a
 * pane shown again) rebuilds the same state, never a doubled one. Listeners are told once per
 * batch the hub delivers (its run, events and status together), in a microtask after it.
 *
 * @module run-relay/store
 */
import type { RunError, RunEvent, RunStatus, RunSummary, SubscriptionTarget } from '../common/model.ts'
import type { RunRelay } from './relay-types.ts'
import { isFinal } from '../common/run-status.ts'

/** Folds a run's events into the state a component shows. */
export type RunReducer<S> = (state: S, event: RunEvent) => S

/**
 * The default reducer: the text of token-like events, whatever the server: the reference
 * protocol's `token {text}`, the AI SDK's `text-delta {delta}`, OpenAI's `choices[0].delta.content`.
 */
export const textReducer: RunReducer<string> = (text, event) => text + textOf(event)

/** One event's text (see `textReducer`); '' for an event that carries none. */
export function textOf(event: RunEvent): string {
  let data: unknown = event.json
  if (data === undefined) {
    try {
      data = JSON.parse(event.data)
    } catch {
      return ''
    }
  }
  if (!data || typeof data !== 'object') return ''
  const value = data as { text?: unknown; type?: unknown; delta?: unknown; choices?: Array<{ delta?: { content?: unknown } }> }
  if (event.type === 'token' && typeof value.text === 'string') return value.text
  if (value.type === 'text-delta' && typeof value.delta === 'string') return value.delta
  const content = value.choices?.[0]?.delta?.content
  return typeof content === 'string' ? content : ''
}

/** What a run store holds (and what `useRun` and `useSession` return). */
export interface RunView<S> {
  /** The run shown: the one asked for, or the session's current run. */
  runId: string | undefined
  /** The run's status, or `undefined` before the hub told it (or with no run). */
  status: RunStatus | undefined
  /** Why the run failed, when it did. */
  error: RunError | undefined
  /** The run's events folded by the reducer (by default its text). */
  state: S
  /** Events folded so far. */
  eventCount: number
  /** The transcript has a hole the hub could not fill (a resync). */
  incomplete: boolean
  /** The status as a flag: the run is live (any status but `ended` and `failed`). */
  isStreaming: boolean
  /** The status as a flag: the run failed. */
  isError: boolean
  /** Stops holding the run's connection (`relay.close`). Cancel on your server too to stop generation. */
  stop: () => void
}

/**
 * A readable store: the value now, and its changes. `subscribe` calls the listener at once with
 * the current value, then on every change (Svelte's store contract: `$store` reads it natively);
 * `listen` calls it on changes only (what React's `useSyncExternalStore` wants). Both return the
 * function that stops listening.
 */
export interface ReadableStore<T> {
  /** The value now. */
  get(): T
  /** Calls `listener` at once with the value, then on every change; returns the function that stops it. */
  subscribe(listener: (value: T) => void): () => void
  /** Calls `listener` on every change only; returns the function that stops it. */
  listen(listener: (value: T) => void): () => void
}

/** Options of `runStore` and `sessionStore`. */
export interface RunStoreOptions<S> {
  /** Folds each event into the state. @defaultValue `textReducer` */
  reducer?: RunReducer<S>
  /** The state before the first event. @defaultValue `''` */
  initial?: S
}

/** A store that subscribes to its source on its first listener and stops after its last one. */
function lazyStore<T>(initial: T, start: (set: (value: T) => void) => () => void): ReadableStore<T> {
  const listeners = new Set<(value: T) => void>()
  let value = initial
  let stop: (() => void) | undefined
  let queued = false
  const notify = () => {
    queued = false
    for (const listener of [...listeners]) listener(value)
  }
  const set = (next: T) => {
    value = next
    if (!queued) {
      queued = true
      queueMicrotask(notify)
    }
  }
  const listen = (listener: (value: T) => void) => {
    listeners.add(listener)
    if (listeners.size === 1) stop = start(set)
    return () => {
      if (!listeners.delete(listener) || listeners.size > 0) return
      stop?.()
      stop = undefined
    }
  }
  return {
    get: () => value,
    listen,
    subscribe(listener) {
      const unlisten = listen(listener)
      listener(value)
      return unlisten
    },
  }
}

function targetStore<S>(relay: RunRelay, target: SubscriptionTarget, options: RunStoreOptions<S>): ReadableStore<RunView<S>> {
  const reducer = (options.reducer ?? textReducer) as RunReducer<S>
  const initial = (options.initial ?? '') as S
  const fresh = (runId: string | undefined, status?: RunStatus): RunView<S> => ({
    runId, status, error: undefined, state: initial, eventCount: 0, incomplete: false, isStreaming: status !== undefined && !isFinal(status), isError: status === 'failed',
    stop: () => void (runId === undefined ? undefined : relay.close(runId).catch(() => {})),
  })
  const first = fresh('runId' in target ? target.runId : undefined)
  let view = first
  return lazyStore(first, (set) => {
    const update = (next: Partial<RunView<S>>) => {
      view = { ...view, ...next }
      view.isStreaming = view.status !== undefined && !isFinal(view.status)
      view.isError = view.status === 'failed'
      set(view)
    }
    view = fresh(view.runId)
    set(view)
    return relay.subscribe(target, {
      onRun: (run) => update(fresh(run.runId, run.status)),
      onEvents: (events, runId) => runId === view.runId && update({ state: events.reduce(reducer, view.state), eventCount: view.eventCount + events.length }),
      onStatus: (status, runId, error) => runId === view.runId && update({ status, error }),
      onResync: (runId) => runId === view.runId && update({ incomplete: true }),
    }, { decode: 'json' })
  })
}

/** One run: its status, error and events folded by a reducer (its text by default). */
export function runStore<S = string>(relay: RunRelay, runId: string, options: RunStoreOptions<S> = {}): ReadableStore<RunView<S>> {
  return targetStore(relay, { runId }, options)
}

/** A session's current run, and every later one: the view starts afresh when a new run starts. */
export function sessionStore<S = string>(relay: RunRelay, sessionId: string, options: RunStoreOptions<S> = {}): ReadableStore<RunView<S>> {
  return targetStore(relay, { sessionId }, options)
}

/** Every run the hub holds (the sidebar's running dots). */
export function runsStore(relay: RunRelay): ReadableStore<RunSummary[]> {
  return lazyStore<RunSummary[]>([], (set) => relay.watchRuns(set))
}
