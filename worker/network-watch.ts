import type { HubOptions } from './hub-options.ts'

/**
 * The hub's view of the network for runs that wait for it. The `online` event brings them back;
 * a check every `networkCheckMs` covers a browser that does not send it to workers (DevTools emulation).
 */
export class NetworkWatch {
  readonly #options: Pick<HubOptions, 'network' | 'networkCheckMs' | 'setTimeout' | 'clearTimeout'>
  readonly #back: () => void
  #check: unknown

  /** `back`: the network is back; reconnect whatever waits. */
  constructor(options: Pick<HubOptions, 'network' | 'networkCheckMs' | 'setTimeout' | 'clearTimeout'>, back: () => void) {
    this.#options = options
    this.#back = back
    options.network.onChange((online) => {
      if (online) this.#networkBack()
    })
  }

  isOnline(): boolean {
    return this.#options.network.isOnline()
  }

  /** Something waits for the network: check it until it is back. */
  waitForNetwork(): void {
    this.#check ??= this.#options.setTimeout(() => {
      this.#check = undefined
      if (this.#options.network.isOnline()) this.#networkBack()
      else this.waitForNetwork()
    }, this.#options.networkCheckMs)
  }

  #networkBack(): void {
    this.#options.clearTimeout(this.#check)
    this.#check = undefined
    this.#back()
  }
}
