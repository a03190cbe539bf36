import type { RunErrorCode } from '../common/model.ts'

/** Why a client call failed. Run failures reuse the hub's `RunErrorCode`s. */
export type RelayErrorCode =
  | RunErrorCode
  /** The hub did not answer in time (its worker is gone or stuck). */
  | 'timeout'
  /** The client was disposed while the call was pending, or before it. */
  | 'disposed'
  /** The worker speaks another protocol version (a deploy happened). Reload the page. */
  | 'version_mismatch'
  /** The call threw: an argument that cannot be cloned (a function in a spec, say), or a hub bug. The message says which. */
  | 'hub_error'
  /**
   * The SharedWorker's script did not load (a 404, a non-JavaScript MIME type, an invalid or
   * `file:` URL). The message names the URL and the fix; `mode: 'auto'` falls back instead.
   */
  | 'worker_unavailable'
  /** The relay was used outside a browser (during server rendering). Call it from an effect or an event handler. */
  | 'no_browser'

/** The one error class the client throws or rejects with. */
export class RelayError extends Error {
  /** Always `'RelayError'`, for code that checks `error.name`. */
  override name = 'RelayError'
  /** What went wrong, as a code the app can branch on. */
  readonly code: RelayErrorCode

  constructor(code: RelayErrorCode, message: string) {
    super(message)
    this.code = code
  }
}
