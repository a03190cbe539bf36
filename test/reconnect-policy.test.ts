import { describe, expect, it } from 'vitest'
import { decideDrop, decideRecovery, type DropFacts, type DropOutcome } from '../worker/reconnect-policy.ts'
import type { DropReason } from '../worker/transport.ts'

/** The reconnect policy as a table: each row a drop and its facts, and what must follow. */
const base: DropFacts = {
  reason: { kind: 'network', message: 'Failed to fetch' },
  holder: 'run', resume: 'cursor', endOnClose: false, hasIds: true,
  newEvents: 3, heldEvents: 10, accepted: true, repeatsPost: false, confirmingEnd: false,
  online: true, canRefreshHeaders: false, authRetried: false, attempt: 0, maxRetries: 8, maxServerErrors: 3, backoff: { baseMs: 500, maxMs: 15_000 }, retryMs: undefined, random: 0.5,
}
const closed: DropReason = { kind: 'closed' }
const http = (status: number, retryAfterMs?: number): DropReason => ({ kind: 'http', status, message: `HTTP ${status}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })

type Expected = DropOutcome['kind'] | `fail:${string}` | `reconnect:${number}`
const rows: Array<[string, Partial<DropFacts>, Expected]> = [
  // Refusals that retrying cannot change
  ['204: nothing more, ever', { reason: http(204) }, 'end'],
  ['401', { reason: http(401) }, 'fail:auth'],
  ['403', { reason: http(403) }, 'fail:auth'],
  ['404', { reason: http(404) }, 'fail:not_found'],
  ['409', { reason: http(409) }, 'fail:http'],
  ['oversize', { reason: { kind: 'oversize', message: 'big' } }, 'fail:oversize'],
  ['bad_response', { reason: { kind: 'bad_response', message: 'text/html' } }, 'fail:bad_response'],
  ['a refusal while confirming an unverified end leaves the end standing', { reason: http(404), confirmingEnd: true }, 'end'],
  // A token that expired mid-run
  ['401 while a tab can give fresh headers: ask, and try once more', { reason: http(401), canRefreshHeaders: true }, 'refresh-auth'],
  ['403 likewise', { reason: http(403), canRefreshHeaders: true }, 'refresh-auth'],
  ['401 again after asking (no new event since): auth', { reason: http(401), canRefreshHeaders: true, authRetried: true }, 'fail:auth'],
  ['401 with no tab to ask: auth at once', { reason: http(401), canRefreshHeaders: false }, 'fail:auth'],
  ['a 404 is no token problem: not_found, fresh headers or not', { reason: http(404), canRefreshHeaders: true }, 'fail:not_found'],
  // Statuses worth retrying, after the backoff (random 0.5 of min(15 000, 500 * 2^attempt))
  ['500 reconnects after the backoff', { reason: http(500) }, 'reconnect:250'],
  ['503 with Retry-After waits at least that long', { reason: http(503, 4_000) }, 'reconnect:4000'],
  ['429 with Retry-After', { reason: http(429, 100), attempt: 2 }, 'reconnect:1000'],
  ['the server retry: field replaces the base', { retryMs: 100 }, 'reconnect:50'],
  ['the delay is capped', { attempt: 10, maxRetries: 20 }, 'reconnect:7500'],
  // A failing server (5xx, no Retry-After) gets fewer tries than a flaky network: it fails in seconds
  ['500 on the third retry in a row: one more try', { reason: http(500), attempt: 2 }, 'reconnect:1000'],
  ['500 on the fourth: retries_exhausted, not after every retry', { reason: http(500), attempt: 3 }, 'fail:retries_exhausted'],
  ['502 likewise', { reason: http(502), attempt: 3 }, 'fail:retries_exhausted'],
  ['503 with Retry-After is a busy server: waited for, up to maxRetries', { reason: http(503, 1000), attempt: 5 }, 'reconnect:7500'],
  ['503 without Retry-After is still "temporarily unavailable": up to maxRetries', { reason: http(503), attempt: 5 }, 'reconnect:7500'],
  ['a feed keeps the whole budget on 500s (it outlives its server\'s bad hours)', { holder: 'feed', reason: http(500), attempt: 5 }, 'reconnect:7500'],
  ['network drops keep the whole budget', { attempt: 5 }, 'reconnect:7500'],
  // Ends by closing
  ['a clean close after progress is routine: straight back', { reason: closed }, 'reconnect:0'],
  ['a routine close waits for the server retry: field', { reason: closed, retryMs: 3000 }, 'reconnect:3000'],
  ['a clean close with no progress since the last drop backs off', { reason: closed, attempt: 1 }, 'reconnect:500'],
  ['end.onClose: a clean close after new events is the end', { reason: closed, endOnClose: true }, 'end'],
  ['end.onClose with no new events: a drop', { reason: closed, endOnClose: true, newEvents: 0, attempt: 1 }, 'reconnect:500'],
  ['end.onClose, unverified (WebKit): confirmed by one more connection', { reason: { kind: 'closed', unverified: true }, endOnClose: true }, 'confirm-end'],
  ['confirming, and nothing new came: the end', { reason: closed, endOnClose: true, newEvents: 0, confirmingEnd: true }, 'end'],
  ['unverified, but confirming would repeat a POST: the end', { reason: { kind: 'closed', unverified: true }, endOnClose: true, repeatsPost: true }, 'end'],
  ["'no-ids' applies only to a run without ids", { reason: closed, endOnClose: 'no-ids', hasIds: true }, 'reconnect:0'],
  ["'no-ids', no ids: the end", { reason: closed, endOnClose: 'no-ids', hasIds: false }, 'end'],
  ['a feed never ends by closing', { reason: closed, endOnClose: true, holder: 'feed' }, 'reconnect:0'],
  // What cannot be resumed is never silently short, and a POST is never sent twice
  ['resume none, after events: unresumable', { resume: 'none' }, 'fail:unresumable'],
  ['resume none, before any event: a reconnect', { resume: 'none', heldEvents: 0, newEvents: 0 }, 'reconnect:250'],
  ['a POST without resumeUrl the server accepted: unresumable', { repeatsPost: true }, 'fail:unresumable'],
  ['a POST without resumeUrl that may have reached the server (network): unresumable', { repeatsPost: true, accepted: false }, 'fail:unresumable'],
  ['a POST without resumeUrl the server refused with 503: sent again', { repeatsPost: true, accepted: false, reason: http(503) }, 'reconnect:250'],
  ['a POST whose server lost the connection after accepting it, 503 now: unresumable', { repeatsPost: true, accepted: true, reason: http(503) }, 'fail:unresumable'],
  // Offline and the retry budget
  ['offline: wait for the network, no retry spent', { online: false }, 'wait-for-network'],
  ['offline beats an exhausted budget', { online: false, attempt: 8 }, 'wait-for-network'],
  ['the retries without progress are spent', { attempt: 8 }, 'fail:retries_exhausted'],
  ['a feed spends them too', { attempt: 8, holder: 'feed' }, 'fail:retries_exhausted'],
]

function summary(outcome: DropOutcome): string {
  if (outcome.kind === 'fail') return `fail:${outcome.error.code}`
  if (outcome.kind === 'reconnect') return `reconnect:${outcome.delayMs}`
  return outcome.kind
}

describe('the reconnect policy', () => {
  it.each(rows)('%s', (_, facts, expected) => {
    expect(summary(decideDrop({ ...base, ...facts }))).toBe(expected)
  })

  it('says why a run cannot be resumed, in words that name the fix', () => {
    const outcome = decideDrop({ ...base, repeatsPost: true })
    expect(outcome.kind === 'fail' && outcome.error.message).toMatch(/resumeUrl/)
    const exhausted = decideDrop({ ...base, attempt: 8, reason: { kind: 'network', message: 'Failed to fetch' } })
    expect(exhausted.kind === 'fail' && exhausted.error.message).toMatch(/Gave up after 8 reconnects without progress; last: Failed to fetch/)
  })
})

describe('recovery on a new hub', () => {
  it.each([
    ['a GET that resumes from a cursor', { repeatsPost: false, resume: 'cursor' }, undefined],
    ['a POST with a resumeUrl (resumed with its GET)', { repeatsPost: false, resume: 'replay' }, undefined],
    ['a POST without resumeUrl: never sent again', { repeatsPost: true, resume: 'replay' }, 'unresumable'],
    ['a server that cannot resume', { repeatsPost: false, resume: 'none' }, 'unresumable'],
  ] as const)('%s', (_, facts, expected) => {
    expect(decideRecovery(facts)?.code).toBe(expected)
  })
})
