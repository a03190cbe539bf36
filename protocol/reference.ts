/**
 * The reference chat protocol's shared facts (docs/server-contract.md, preset `reference`),
 * defined once for the three that speak it: the hub (`worker/server-contract.ts`), the published
 * server half (`server/`) and the dev chat server (`dev-server/`). Plain data and pure functions:
 * no import, nothing of the page, the worker or Node.
 */

/** The event names of the reference protocol. */
export const REFERENCE_EVENT_NAMES: string[] = [
  'token', 'reasoning', 'interim_assistant', 'tool', 'tool_complete', 'approval', 'clarify',
  'metering', 'compressing', 'compressed', 'warning', 'title_status', 'title', 'done',
  'stream_end', 'cancel', 'apperror', 'error',
]

/** The events that end a run. `done` is not among them: `metering`, `title` and `stream_end` follow it. */
export const REFERENCE_END_EVENTS: string[] = ['stream_end', 'cancel', 'apperror', 'error']

/** The final entry a server writes for a run whose producer is gone (its lease ran out). */
export const ABANDONED_ENTRY = {
  /** The end event readers get. */
  event: 'apperror',
  /** Its data: `{"message":"the live worker stopped"}`. */
  data: JSON.stringify({ message: 'the live worker stopped' }),
} as const

/** An `apperror` entry with `message`. */
export const apperrorEntry = (message: string) => ({ event: 'apperror', data: JSON.stringify({ message }) })

/**
 * Where a stream request asks to start, by precedence: the query's `after_seq`, then
 * `after_event_id`, then `replay=1`, then the `Last-Event-ID` header; `none` when it names no
 * cursor (the reference server's fresh subscribe: live only). `asked` says which, for logs.
 */
export type CursorRequest =
  | { kind: 'seq'; seq: number; asked: string }
  | { kind: 'event-id'; id: string; asked: string }
  | { kind: 'replay'; asked: string }
  | { kind: 'none'; asked: string }

export function cursorRequest(query: URLSearchParams, lastEventId: string | null | undefined): CursorRequest {
  const afterSeq = query.get('after_seq')
  if (afterSeq !== null) {
    // A malformed seq replays from the start.
    const seq = Number(afterSeq)
    return { kind: 'seq', seq: Number.isInteger(seq) && seq >= 0 ? seq : 0, asked: `after_seq=${afterSeq}` }
  }
  const afterEventId = query.get('after_event_id')
  if (afterEventId !== null) return { kind: 'event-id', id: afterEventId, asked: `after_event_id=${afterEventId}` }
  if (query.get('replay') === '1') return { kind: 'replay', asked: 'replay=1' }
  if (typeof lastEventId === 'string') return { kind: 'event-id', id: lastEventId, asked: `last-event-id=${lastEventId}` }
  return { kind: 'none', asked: 'none' }
}

/** The seq a `<run>:<seq>` event id names, if it is this run's; else 0 (a foreign or malformed id replays from the start). */
export function seqOfEventId(id: string, runId: string): number {
  const at = id.lastIndexOf(':')
  const seq = Number(id.slice(at + 1))
  return at > 0 && id.slice(0, at) === runId && Number.isInteger(seq) && seq >= 0 ? seq : 0
}
