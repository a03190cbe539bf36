import type { RunError, RunEnd } from '../common/model.ts'
import { backoffDelay, type BackoffPolicy } from './backoff.ts'
import type { DropReason } from './transport.ts'

/**
 * The reconnect policy: what a dropped connection means, decided in this one place. Pure: the
 * run or feed gathers the facts, `decideDrop` says what follows, and the holder applies it
 * (`connection-holder.ts`); the connection only runs attempts and timers. To change what a drop
 * does, change this file and its table test (test/reconnect-policy.test.ts).
 */

/** Everything the decision may depend on, as plain data. */
export interface DropFacts {
  reason: DropReason
  /** What the holder is: a feed never ends by closing and has nothing to lose. */
  holder: 'run' | 'feed'
  /** How the holder's server resumes (`none`: it cannot; a drop after an event loses the rest). */
  resume: 'cursor' | 'replay' | 'none'
  /** `end.onClose` of the contract, and whether the server has sent any id (`'no-ids'` reads it). */
  endOnClose: RunEnd['onClose']
  hasIds: boolean
  /** New events on the attempt that dropped, and events the holder holds in all. */
  newEvents: number
  heldEvents: number
  /** A response of this holder's was ever accepted as an event stream (the server had the request). */
  accepted: boolean
  /** The first request is a POST (it starts a turn) and there is no `resumeUrl`: a reconnect would send it again. */
  repeatsPost: boolean
  /** A clean close that may have been a cut is being confirmed by one more connection. */
  confirmingEnd: boolean
  online: boolean
  /** A live tab can give the run fresh headers (`RelayOptions.headers`), and whether a 401/403 already asked since the last new event. */
  canRefreshHeaders: boolean
  authRetried: boolean
  /** Reconnects in a row without progress, and how many are allowed. */
  attempt: number
  maxRetries: number
  /** Of those, how many may end in a 5xx other than 503, without `Retry-After` (a failing server, not a busy one), for a run. */
  maxServerErrors: number
  backoff: BackoffPolicy
  /** The server's `retry:` field, in ms. */
  retryMs: number | undefined
  /** A draw in [0, 1) for the jitter (injected, so the function stays pure). */
  random: number
}

/** What follows a drop. */
export type DropOutcome =
  /** The stream is over: the run ends. */
  | { kind: 'end' }
  /** Retrying cannot help: fail with this error. */
  | { kind: 'fail'; error: RunError }
  /** A clean close may have been the end or a cut: one more connection, at once and not counted as a retry, tells. */
  | { kind: 'confirm-end' }
  /** Reconnect after `delayMs`; the attempt counts against `maxRetries`. */
  | { kind: 'reconnect'; delayMs: number }
  /** Offline: wait for the `online` event, spending no retry. */
  | { kind: 'wait-for-network' }
  /** A 401 or 403 while a tab can give fresh headers: ask for them and try once more, at once. */
  | { kind: 'refresh-auth' }

export function decideDrop(f: DropFacts): DropOutcome {
  const { reason } = f
  const refusal = refusalOf(reason)
  const close = f.holder === 'run' ? closeMeans(f) : 'drop'
  // While confirming an unverified clean end, a refusal (404 for a finished stream) leaves that end standing.
  if (refusal === 'ended' || close === 'end' || (refusal && f.confirmingEnd)) return { kind: 'end' }
  // A token that expired mid-run: one more request with the page's fresh headers before `auth`.
  if (refusal?.code === 'auth' && f.canRefreshHeaders && !f.authRetried) return { kind: 'refresh-auth' }
  if (refusal) return { kind: 'fail', error: refusal }
  if (close === 'confirm') return { kind: 'confirm-end' }
  const last = 'message' in reason ? reason.message : 'the server closed the stream'
  if (f.holder === 'run' && f.resume === 'none' && f.heldEvents > 0) {
    const message = `The connection dropped after ${f.heldEvents} events and this server cannot resume (resume: none); the rest of the run is lost. Last: ${last}`
    return { kind: 'fail', error: { type: 'error', code: 'unresumable', message } }
  }
  if (f.repeatsPost && (f.accepted || reason.kind !== 'http')) {
    // [exactly once] Only a status that refused the POST (a 503, a 429) proves the server did not
    // start the turn; after anything else, sending it again could start (and bill) a second one.
    const when = f.accepted ? 'after the server accepted the POST that started this run' : 'and the POST that starts this run may have reached the server'
    const message = `The connection dropped ${when}; the run has no resumeUrl, so reconnecting would send the POST again and could start a second turn. Give the spec a resumeUrl (a GET that resumes the run). Last: ${last}`
    return { kind: 'fail', error: { type: 'error', code: 'unresumable', message } }
  }
  // [offline] Waiting for the network is not a failed attempt: `online` reconnects.
  if (!f.online) return { kind: 'wait-for-network' }
  // A run's server answering 5xx with no Retry-After, again and again, is failing (a resume it cannot
  // serve), not busy. A 503 says "temporarily", and a feed outlives its server's bad hours: both keep maxRetries.
  if (f.holder === 'run' && reason.kind === 'http' && reason.status >= 500 && reason.status !== 503 && reason.retryAfterMs === undefined && f.attempt >= f.maxServerErrors) {
    return { kind: 'fail', error: { type: 'error', code: 'retries_exhausted', status: reason.status, message: `The server answered ${reason.status} ${f.attempt + 1} times in a row without progress (a 503 with Retry-After would be waited for); last: ${last}` } }
  }
  if (f.attempt >= f.maxRetries) {
    return { kind: 'fail', error: { type: 'error', code: 'retries_exhausted', message: `Gave up after ${f.attempt} reconnects without progress; last: ${last}` } }
  }
  // A clean close after progress or a sign of life is routine (a Durable Streams server closes about
  // every 60 s, a proxy at its timeout): straight back, or after the server's `retry:`. Once per progress.
  if (reason.kind === 'closed' && f.attempt === 0) return { kind: 'reconnect', delayMs: f.retryMs ?? 0 }
  const jittered = backoffDelay(f.attempt, f.backoff, () => f.random, f.retryMs)
  // [RFC 9110] A 429 or 503 with Retry-After says when to come back: never sooner (it is capped where parsed).
  const delayMs = reason.kind === 'http' && reason.retryAfterMs !== undefined ? Math.max(jittered, reason.retryAfterMs) : jittered
  return { kind: 'reconnect', delayMs }
}

/** Answers that retrying cannot change. 204 is the server's way to say "nothing more, ever". */
export function refusalOf(reason: DropReason): RunError | 'ended' | undefined {
  if (reason.kind === 'oversize') return { type: 'error', code: 'oversize', message: reason.message }
  if (reason.kind === 'bad_response') return { type: 'error', code: 'bad_response', message: reason.message }
  if (reason.kind === 'cors') return { type: 'error', code: 'cors', message: reason.message }
  if (reason.kind !== 'http') return undefined
  const { status, message } = reason
  if (status === 204) return 'ended'
  if (status === 401 || status === 403) return { type: 'error', code: 'auth', status, message }
  if (status === 404) return { type: 'error', code: 'not_found', status, message }
  if (status >= 500 || status === 408 || status === 429) return undefined
  return { type: 'error', code: 'http', status, message }
}

/**
 * [contract] `end.onClose`: a response that ends cleanly after at least one new event is the end.
 * A clean end the transport could not verify (`unverified`: WebKit's fetch reports a cut socket
 * as a clean end) is confirmed first by one more connection, unless that would repeat a POST.
 */
function closeMeans(f: DropFacts): 'end' | 'confirm' | 'drop' {
  const applies = f.endOnClose === true || (f.endOnClose === 'no-ids' && !f.hasIds)
  if (!applies || f.reason.kind !== 'closed') return 'drop'
  if (f.newEvents === 0) return f.confirmingEnd ? 'end' : 'drop'
  return f.reason.unverified && !f.repeatsPost ? 'confirm' : 'end'
}

/**
 * A run re-opened on a new hub after the one that sent its first request went away (recovery):
 * it resumes, or fails with why it cannot without repeating that request. Never a second POST.
 */
export function decideRecovery(f: Pick<DropFacts, 'repeatsPost' | 'resume'>): RunError | undefined {
  if (f.repeatsPost) {
    return { type: 'error', code: 'unresumable', message: 'The hub holding this run went away, and the run started with a POST and has no resumeUrl: a new hub would have to send the POST again and could start a second turn. Give the spec a resumeUrl (a GET that resumes the run).' }
  }
  if (f.resume === 'none') {
    return { type: 'error', code: 'unresumable', message: 'The hub holding this run went away, and its server cannot resume a stream (resume: none): a new request would start it over.' }
  }
  return undefined
}
