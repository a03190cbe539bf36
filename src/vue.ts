/**
 * Vue 3 bindings: `provideRunRelay`, and composables over the stores of `run-relay/store` (`useRun`, `useSession`, `useRuns`, `useRunRelay`).
 *
 * @module run-relay/vue
 */
import { getCurrentScope, inject, onScopeDispose, provide, shallowReadonly, shallowRef, toValue, watch, type InjectionKey, type MaybeRefOrGetter, type ShallowRef } from 'vue'
import { createRunRelay } from './client.ts'
import type { RunSummary } from '../common/model.ts'
import type { RelayOptions, RunRelay } from './relay-types.ts'
import { runsStore, runStore, sessionStore, type ReadableStore, type RunStoreOptions, type RunView } from './store.ts'

/**
 * Vue 3 composables over the stores of `run-relay/store`. Each returns a read-only shallow ref
 * that follows the run, subscribes to the relay while the calling component (or effect scope)
 * lives and stops on its dispose; a ref or getter argument (a chat id from the route) moves the
 * subscription when it changes. On the server (Nuxt, `renderToString`) nothing subscribes: the
 * ref holds the empty view, and the client takes over when it mounts.
 */

export { textOf, textReducer, type ReadableStore, type RunReducer, type RunView } from './store.ts'

/** The key a relay is provided under (`app.provide(RUN_RELAY, relay)` does what `provideRunRelay` does). */
export const RUN_RELAY: InjectionKey<RunRelay> = Symbol('run-relay')

/**
 * Provides a relay to the calling component's descendants: the one you pass, or one it creates
 * from `options` and disposes when the component's scope ends. Returns it.
 */
export function provideRunRelay(relayOrOptions?: RunRelay | RelayOptions): RunRelay {
  const given = relayOrOptions && 'subscribe' in relayOrOptions ? relayOrOptions : undefined
  const relay = given ?? createRunRelay(relayOrOptions as RelayOptions | undefined)
  if (!given && getCurrentScope()) onScopeDispose(() => relay.dispose())
  provide(RUN_RELAY, relay)
  return relay
}

/** The relay provided above the calling component, or `given`. */
export function useRunRelay(given?: RunRelay): RunRelay {
  const relay = given ?? inject(RUN_RELAY, undefined)
  if (!relay) throw new Error('useRunRelay: no relay here. Call provideRunRelay() in a parent component (or app.provide(RUN_RELAY, relay)), or pass `relay`.')
  return relay
}

/** Options of `useRun` and `useSession`: the store's reducer, and a relay other than the provided one. */
export interface ComposableOptions<S> extends RunStoreOptions<S> {
  /** Another relay than the provided one. */
  relay?: RunRelay
}

/** Follows one run: status, error and its events folded by a reducer (its text by default). */
export function useRun<S = string>(runId: MaybeRefOrGetter<string | undefined>, options: ComposableOptions<S> = {}): Readonly<ShallowRef<RunView<S>>> {
  const relay = useRunRelay(options.relay)
  return follow(runId, options.initial, (id) => runStore(relay, id, options))
}

/** Follows a session's current run, and every later one: the view starts afresh when a new run starts. */
export function useSession<S = string>(sessionId: MaybeRefOrGetter<string | undefined>, options: ComposableOptions<S> = {}): Readonly<ShallowRef<RunView<S>>> {
  const relay = useRunRelay(options.relay)
  return follow(sessionId, options.initial, (id) => sessionStore(relay, id, options))
}

/** Every run the hub holds (the sidebar's running dots). */
export function useRuns(options: { relay?: RunRelay } = {}): Readonly<ShallowRef<RunSummary[]>> {
  const relay = useRunRelay(options.relay)
  const runs = shallowRef<RunSummary[]>([])
  if (inBrowser()) bindScope(runsStore(relay).subscribe((value) => (runs.value = value)))
  return shallowReadonly(runs)
}

const inBrowser = () => typeof window !== 'undefined'

function bindScope(stop: () => void): void {
  if (getCurrentScope()) onScopeDispose(stop)
}

function follow<S>(id: MaybeRefOrGetter<string | undefined>, initial: S | undefined, storeOf: (id: string) => ReadableStore<RunView<S>>): Readonly<ShallowRef<RunView<S>>> {
  const empty: RunView<S> = { runId: undefined, status: undefined, error: undefined, state: (initial ?? '') as S, eventCount: 0, incomplete: false, isStreaming: false, isError: false, stop: () => {} }
  const view = shallowRef(empty)
  if (!inBrowser()) return shallowReadonly(view)
  let stop: (() => void) | undefined
  watch(() => toValue(id), (current) => {
    stop?.()
    stop = undefined
    view.value = empty
    if (current !== undefined) stop = storeOf(current).subscribe((value) => (view.value = value))
  }, { immediate: true })
  bindScope(() => stop?.())
  return shallowReadonly(view)
}
