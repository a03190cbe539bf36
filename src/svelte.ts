/**
 * Svelte bindings: the stores of `run-relay/store` (Svelte's store contract), and `setRunRelay` / `getRunRelay` through Svelte's context.
 *
 * @module run-relay/svelte
 */
import { getContext, setContext } from 'svelte'
import { createRunRelay } from './client.ts'
import type { RelayOptions, RunRelay } from './relay-types.ts'

/**
 * Svelte bindings. The stores of `run-relay/store` keep Svelte's store contract (`subscribe`
 * calls back at once and returns the unsubscribe), so `$store` reads them in any Svelte version,
 * and Svelte 5's `fromStore` turns one into runes state (`.current`). A store subscribes to the
 * relay while a component reads it: during server rendering (SvelteKit) that is for the length
 * of the render, on a relay that holds nothing there.
 *
 * ```svelte
 * <script>
 *   import { fromStore } from 'svelte/store'
 *   import { getRunRelay, sessionStore } from 'run-relay/svelte'
 *   let { chatId } = $props()
 *   const relay = getRunRelay()
 *   const view = $derived(fromStore(sessionStore(relay, chatId)))
 * </script>
 * <p data-status={view.current.status}>{view.current.state}</p>
 * ```
 */

export { runsStore, runStore, sessionStore, textOf, textReducer, type ReadableStore, type RunReducer, type RunStoreOptions, type RunView } from './store.ts'

const KEY = Symbol('run-relay')

/**
 * Gives the calling component's descendants a relay (Svelte's context): the one you pass, or one
 * created from `options`. Call it during a component's initialisation, as `setContext`. Returns it.
 */
export function setRunRelay(relayOrOptions?: RunRelay | RelayOptions): RunRelay {
  const relay = relayOrOptions && 'subscribe' in relayOrOptions ? relayOrOptions : createRunRelay(relayOrOptions as RelayOptions | undefined)
  setContext(KEY, relay)
  return relay
}

/** The relay a parent gave with `setRunRelay`. Call it during a component's initialisation, as `getContext`. */
export function getRunRelay(): RunRelay {
  const relay = getContext<RunRelay | undefined>(KEY)
  if (!relay) throw new Error('getRunRelay: no relay here. Call setRunRelay() in a parent component (your root +layout.svelte), or pass a relay to the store.')
  return relay
}
