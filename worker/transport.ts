import type { TransportKind } from '../common/model.ts'


/** Why a connection ended without a terminal event. The hub decides what follows. */
export type DropReason =
  /**
   * The response ended (server closed, `Connection: close`, proxy timeout). `unverified`: the
   * engine may report a cut connection this way too (see worker/engine-facts.ts).
   */
  | { kind: 'closed'; unverified?: boolean }
  /** The request failed before or during the response. */
  | { kind: 'network'; message: string }
  /** The server answered with a status other than 200; `retryAfterMs`: its `Retry-After`, capped (see `response-check.ts`). */
  | { kind: 'http'; status: number; message: string; retryAfterMs?: number }
  /** The stream broke a rule (a seq jump): reconnecting may help. */
  | { kind: 'protocol'; message: string }
  /** Nothing, not even a heartbeat, arrived for the silence timeout. */
  | { kind: 'silence'; message: string }
  /** One event exceeded the size limit: reconnecting would fetch it again. */
  | { kind: 'oversize'; message: string }
  /** No response headers within the connect timeout. */
  | { kind: 'timeout'; message: string }
  /** Not an event stream: another content type or charset (a login page), a redirect, a 304, a body that is not UTF-8. */
  | { kind: 'bad_response'; message: string }
  /** A cross-origin server answers, but not with CORS headers that let this origin read it (worker/cors-check.ts). */
  | { kind: 'cors'; message: string }

/** What a transport reports about one connection. Nothing fires after `close()`. */
export interface StreamHandlers {
  onOpen(): void
  onEvent(type: string, data: string, id: string | undefined): void
  /** A comment line (heartbeat). Only transports that see comments call it. */
  onComment(): void
  /** The server's `retry:` field, in ms. */
  onRetry(ms: number): void
  /** [spec] Bytes that are not UTF-8 were decoded as this many U+FFFD (the stream goes on). Only transports that see the bytes call it. */
  onInvalidText?(replaced: number): void
  onDrop(reason: DropReason): void
}

/** One connection's request, resolved (see `resolve-run.ts`): a transport reads nothing else of the spec (the EventSource probe's own deadline is `STREAM_DEFAULTS.probeTimeoutMs`). */
export interface StreamRequest {
  url: string
  /** The first request uses the spec's method and body; reconnects to a `resumeUrl` are GETs. */
  method: 'GET' | 'POST'
  body: string | undefined
  /** The spec's headers and the resume header. Only the fetch transport can send them. */
  headers: Record<string, string>
  withCredentials: boolean
  /** The event names to forward (`listenedNames` of the contract): `all` only with fetch. */
  events: string[] | 'all'
  /** The largest event (its buffered lines) to accept, in characters. */
  maxEventSize: number
  /** The run this connection streams; `undefined` for a feed. Test transports key on it. */
  runId: string | undefined
  /** Which transport the hub hands the request to. */
  transport: TransportKind
}

/** One attempt of a server connection: one request and its response, until it ends or is closed. */
export interface StreamAttempt {
  /** Stops the attempt; `true` when that aborted a request still in flight (its socket may linger in the browser). */
  close(): boolean
  /**
   * The connect timeout passed without `onOpen` or `onDrop`: closes the attempt and says why,
   * if the transport can find out more than the timeout (within `waitMs`, and the probe's own deadline). Optional.
   */
  explainTimeout?(timeout: DropReason, waitMs: number): Promise<DropReason>
}

/** Makes one attempt of a server connection. Injectable, so hub tests need no network. */
export type Transport = (request: StreamRequest, handlers: StreamHandlers) => StreamAttempt
