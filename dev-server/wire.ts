/**
 * How the dev chat server writes a run on the wire: the reference protocol, or the shape of
 * another server a user may point the library at (README.md: *Server contract*, the presets). The journal is the
 * same in every case; only the frames differ, so every mode can be checked against one transcript.
 */

import { seqOfEventId } from '../protocol/reference.ts'

export type WireMode =
  /** `id: <run>:<seq>`, named events, ends with `stream_end`. */
  | 'reference'
  /** Named events without `id:` lines. */
  | 'no-ids'
  /** Ids that are opaque strings (UUID-like), compared for equality only. */
  | 'opaque-ids'
  /** Ids that are timestamps: numbers, but not gapless. */
  | 'timestamp-ids'
  /** Like the reference protocol, but tokens are named `delta`: a name outside the reference list. */
  | 'delta-names'
  /** OpenAI-style chat completions: unnamed `data: {choices:[{delta}]}`, then `data: [DONE]`. */
  | 'openai'
  /** The AI SDK UI message stream: unnamed `data: {type: ...}` chunks, then `data: [DONE]`. */
  | 'ai-sdk'

/** How the run's end reaches the client, for the modes that have a choice. */
export type EndMode = 'event' | 'close'

/** One event as the client receives it. */
export interface WireEvent {
  id?: string
  /** The SSE event name; absent for unnamed (`message`) events. */
  event?: string
  data: string
}

const FIRST_TIMESTAMP = 1_700_000_000_000

/** The frames one journal entry becomes (none for entries a mode does not carry). */
export function wireEventsOf(mode: WireMode, end: EndMode, streamId: string, entry: { seq: number; event: string; data: string }): WireEvent[] {
  const { seq, event, data } = entry
  if (event === 'stream_end' && end === 'close' && (mode === 'no-ids' || mode === 'opaque-ids' || mode === 'timestamp-ids')) return []
  switch (mode) {
    case 'reference':
      return [{ id: `${streamId}:${seq}`, event, data }]
    case 'no-ids':
      return [{ event, data }]
    case 'opaque-ids':
      return [{ id: opaqueId(streamId, seq), event, data }]
    case 'delta-names':
      return [{ id: `${streamId}:${seq}`, event: event === 'token' ? 'delta' : event, data }]
    case 'timestamp-ids':
      // Increasing, sortable, and never gapless: a seq reader would see a jump at every event.
      return [{ id: String(FIRST_TIMESTAMP + seq * 137), event, data }]
    case 'openai':
      if (event === 'token') return [{ data: JSON.stringify({ choices: [{ index: 0, delta: { content: (JSON.parse(data) as { text: string }).text } }] }) }]
      return event === 'stream_end' ? [{ data: '[DONE]' }] : []
    case 'ai-sdk': {
      const chunk = (value: object): WireEvent => ({ data: JSON.stringify(value) })
      if (event === 'token') {
        const delta = chunk({ type: 'text-delta', id: 'text-1', delta: (JSON.parse(data) as { text: string }).text })
        return seq === 1 ? [chunk({ type: 'start' }), chunk({ type: 'text-start', id: 'text-1' }), delta] : [delta]
      }
      if (event === 'done') return [chunk({ type: 'text-end', id: 'text-1' }), chunk({ type: 'finish' })]
      return event === 'stream_end' ? [{ data: '[DONE]' }] : []
    }
    default:
      return mode satisfies never
  }
}

export function frameOf(event: WireEvent): string {
  return `${event.id === undefined ? '' : `id: ${event.id}\n`}${event.event === undefined ? '' : `event: ${event.event}\n`}data: ${event.data}\n\n`
}

/** The journal seq a client's cursor (`after_event_id`, `Last-Event-ID`) names in this mode, or undefined. */
export function seqOfWireId(mode: WireMode, streamId: string, id: string, journalLength: number): number | undefined {
  // The reference protocol's `<run>:<seq>` ids, parsed as run-relay/server parses them.
  if (mode === 'reference' || mode === 'delta-names') return seqOfEventId(id, streamId)
  for (let seq = journalLength; seq >= 1; seq--) {
    const [event] = wireEventsOf(mode, 'event', streamId, { seq, event: 'token', data: '{"text":""}' })
    if (event?.id === id) return seq
  }
  return undefined
}

/** Modes whose server replays the whole run on every connection, whatever the cursor (no ids to resume from). */
export function replaysFromStart(mode: WireMode): boolean {
  return mode === 'no-ids' || mode === 'openai' || mode === 'ai-sdk'
}

export function responseHeaders(mode: WireMode): Record<string, string> {
  // no-transform: a compressing proxy (Next.js rewrites, say) would otherwise gzip and so buffer the stream.
  const headers: Record<string, string> = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'close' }
  if (mode === 'ai-sdk') headers['x-vercel-ai-ui-message-stream'] = 'v1'
  return headers
}

function opaqueId(streamId: string, seq: number): string {
  let hash = 2166136261
  for (const char of `${streamId}#${seq}`) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619)
  return `evt_${(hash >>> 0).toString(16).padStart(8, '0')}-${seq.toString(36)}`
}
