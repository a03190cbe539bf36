'use client'

import { createContext, createElement, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react'
import { createRunRelay } from './client.ts'
import type { RunError, RunEvent, RunStatus, RunSummary, SubscriptionTarget } from './model.ts'
import type { RelayOptions, RunRelay } from './relay-types.ts'
import { isFinal } from './run-status.ts'

/**
 * React bindings: a provider and hooks over `useSyncExternalStore`. A hook's subscription lives
 * exactly as long as a component reads it (StrictMode's extra mount and unmount leave nothing
 * behind). A batch the hub delivers is handled in one task (its run, events and status messages
 * each set the store), so React batches it into one render: a 10,000-event catch-up renders once.
 */

const RelayContext = createContext<RunRelay | undefined>(undefined)

/** Relays a provider disposed: its effect, run again (shown after `<Activity mode="hidden">`), replaces them. */
const disposedRelays = new WeakSet<RunRelay>()

/**
 * Gives its children a relay: the one you pass, or one it creates (and disposes on unmount).
 * Its own relay survives StrictMode: in development React cleans the effect up and runs it
 * again at once; the disposal waits a task and that second run cancels it. The relay connects
 * on first use, so the extra one StrictMode's double render creates holds nothing.
 */
export function RunRelayProvider(props: { relay?: RunRelay; options?: RelayOptions; children?: ReactNode }): ReactNode {
  const [own, setOwn] = useState(() => (props.relay ? undefined : createRunRelay(props.options)))
  const disposal = useRef<{ relay: RunRelay; timer: ReturnType<typeof setTimeout> } | undefined>(undefined)
  useEffect(() => {
    if (!own) return
    if (disposedRelays.has(own)) return void setOwn(createRunRelay(props.options))
    if (disposal.current?.relay === own) clearTimeout(disposal.current.timer)
    disposal.current = undefined
    return () => {
      const timer = setTimeout(() => {
        disposedRelays.add(own)
        own.dispose()
      })
      disposal.current = { relay: own, timer }
    }
  }, [own]) // eslint-disable-line react-hooks/exhaustive-deps -- the options of the first render are kept
  return createElement(RelayContext.Provider, { value: props.relay ?? own }, props.children)
}

/** The relay of the nearest `RunRelayProvider`, or `given`. */
export function useRunRelay(given?: RunRelay): RunRelay {
  const fromContext = useContext(RelayContext) // called on every render: hooks keep their order
  const relay = given ?? fromContext
  if (!relay) throw new Error('useRunRelay: no relay here. Wrap your app in <RunRelayProvider>, or pass `relay` to the hook.')
  return relay
}

/** Folds a run's events into the state a component shows. */
export type RunReducer<S> = (state: S, event: RunEvent) => S

/**
 * The default reducer: the text of token-like events, whatever the server: the reference
 * protocol's `token {text}`, AI SDK `text-delta {delta}`, OpenAI `choices[0].delta.content`.
 */
export const textReducer: RunReducer<string> = (text, event) => text + textOf(event)

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

/** What `useRun` and `useSession` return. */
export interface RunView<S> {
  /** The run shown: the one asked for, or the session's current run. */
  runId: string | undefined
  status: RunStatus | undefined
  error: RunError | undefined
  /** The run's events folded by the reducer (by default its text). */
  state: S
  /** Events folded so far. */
  eventCount: number
  /** The transcript has a hole the hub could not fill (a resync). */
  incomplete: boolean
  /** Status as two flags: streaming now, and finished with an error. */
  isStreaming: boolean
  isError: boolean
  /** Stops holding the run's connection (`relay.close`). Cancel on your server too to stop generation. */
  stop: () => void
}

interface HookOptions<S> {
  reducer?: RunReducer<S>
  initial?: S
  /** Another relay than the provider's. */
  relay?: RunRelay
}

/** Follows one run: status, error and its events folded by a reducer (its text by default). */
export function useRun<S = string>(runId: string | undefined, options: HookOptions<S> = {}): RunView<S> {
  return useTarget(runId === undefined ? undefined : { runId }, options)
}

/** Follows a session's current run, and every later one: the view resets when a new run starts. */
export function useSession<S = string>(sessionId: string | undefined, options: HookOptions<S> = {}): RunView<S> {
  return useTarget(sessionId === undefined ? undefined : { sessionId }, options)
}

/** Every run the hub holds (the sidebar's running dots), at once and after every change. */
export function useRuns(options: { relay?: RunRelay } = {}): RunSummary[] {
  const relay = useRunRelay(options.relay)
  const store = useMemo(() => {
    let runs: RunSummary[] = []
    return {
      subscribe: (notify: () => void) => relay.watchRuns((next) => {
        runs = next
        notify()
      }),
      get: () => runs,
    }
  }, [relay])
  return useSyncExternalStore(store.subscribe, store.get, store.get)
}

function useTarget<S>(target: SubscriptionTarget | undefined, options: HookOptions<S>): RunView<S> {
  const relay = useRunRelay(options.relay)
  const reducer = (options.reducer ?? textReducer) as RunReducer<S>
  const initial = (options.initial ?? '') as S
  const key = target === undefined ? '' : 'runId' in target ? `run:${target.runId}` : `session:${target.sessionId}`
  // One store per relay and target; the reducer and initial state of the first render are kept.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const store = useMemo(() => createRunStore(relay, target, reducer, initial), [relay, key])
  return useSyncExternalStore(store.subscribe, store.get, store.get)
}

/**
 * The external store behind a hook: a relay subscription while anyone listens. Each new
 * subscription starts from the beginning of the run and from the initial state, so a remount
 * (StrictMode, a pane shown again) rebuilds the same state, never a doubled one.
 */
function createRunStore<S>(relay: RunRelay, target: SubscriptionTarget | undefined, reducer: RunReducer<S>, initial: S) {
  const listeners = new Set<() => void>()
  const fresh = (runId: string | undefined): RunView<S> => ({
    runId, status: undefined, error: undefined, state: initial, eventCount: 0, incomplete: false, isStreaming: false, isError: false,
    stop: () => void (runId === undefined ? undefined : relay.close(runId).catch(() => {})),
  })
  let view = fresh(target && 'runId' in target ? target.runId : undefined)
  let stopSubscription: (() => void) | undefined
  const set = (next: Partial<RunView<S>>) => {
    view = { ...view, ...next }
    view.isStreaming = view.status !== undefined && !isFinal(view.status)
    view.isError = view.status === 'failed'
    for (const listener of [...listeners]) listener()
  }
  return {
    get: () => view,
    subscribe(listener: () => void): () => void {
      listeners.add(listener)
      if (listeners.size === 1 && target) {
        view = fresh(view.runId)
        stopSubscription = relay.subscribe(target, {
          onRun: (run) => set({ ...fresh(run.runId), status: run.status }),
          onEvents: (events, runId) => {
            if (runId !== view.runId) return
            set({ state: events.reduce(reducer, view.state), eventCount: view.eventCount + events.length })
          },
          onStatus: (status, runId, error) => runId === view.runId && set({ status, error }),
          onResync: (runId) => runId === view.runId && set({ incomplete: true }),
        }, { decode: 'json' })
      }
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0) {
          stopSubscription?.()
          stopSubscription = undefined
        }
      }
    },
  }
}
