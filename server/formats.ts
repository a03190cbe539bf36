import type { LogEntry } from './run-log.ts'
import type { StreamFormat } from './run-stream.ts'
import type { SseWriter } from './sse-writer.ts'

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' }

/** `id: <run>:<seq>`, written in pieces (no string is built per event). */
function idLine(out: SseWriter, runId: string, seq: number): void {
  out.text('id: ')
  out.text(runId)
  out.text(':')
  out.text(String(seq))
  out.text('\n')
}

/**
 * The reference chat protocol (docs/server-contract.md, preset `reference`): `id: <run>:<seq>`, the event's own
 * name, its data verbatim. The run's final event (`stream_end`, `cancel`, `apperror`, `error`)
 * is an entry like any other; `apperror` stands in for an end the log cannot give.
 */
export const referenceFormat: StreamFormat = {
  headers: SSE_HEADERS,
  frame(out: SseWriter, runId: string, entry: LogEntry): void {
    idLine(out, runId, entry.seq)
    out.text('event: ')
    out.text(entry.event)
    out.text('\n')
    out.data(entry.data)
    out.text('\n')
  },
  lost: (_runId: string, message: string) => `event: apperror\ndata: ${JSON.stringify({ message })}\n\n`,
}

/** The log event that carries one UI message chunk (its data is the chunk's JSON). */
export const UI_CHUNK_EVENT = 'chunk'

const DONE = 'data: [DONE]\n\n'
/** A chunk event with the run's seq as its id (`<run>:<seq>`): a client that keeps it resumes after it, others ignore it. */
function uiFrame(out: SseWriter, runId: string, seq: number, json: string): void {
  idLine(out, runId, seq)
  out.data(json)
  out.text('\n')
}

function messageOf(data: string): string {
  try {
    const parsed = JSON.parse(data) as { message?: unknown }
    return typeof parsed.message === 'string' ? parsed.message : data
  } catch {
    return data
  }
}

/**
 * The AI SDK's UI message stream (v1): unnamed `data: <chunk JSON>` events and `data: [DONE]`
 * at the end, with the `x-vercel-ai-ui-message-stream: v1` header; what `createUIMessageStreamResponse`
 * writes, written here without importing `ai`. Each chunk carries `id: <run>:<seq>` (the AI SDK
 * ignores ids; `RelayChatTransport` resumes after the last one instead of from the start); `[DONE]`
 * has none. A cancel becomes an `abort` chunk and an abandoned run an `error` chunk, each before `[DONE]`.
 */
export const uiMessageFormat: StreamFormat = {
  headers: { ...SSE_HEADERS, 'x-vercel-ai-ui-message-stream': 'v1' },
  frame(out: SseWriter, runId: string, entry: LogEntry, final: boolean): void {
    switch (entry.event) {
      case UI_CHUNK_EVENT:
        uiFrame(out, runId, entry.seq, entry.data)
        if (final) out.text(DONE)
        return
      case 'cancel':
        uiFrame(out, runId, entry.seq, JSON.stringify({ type: 'abort' }))
        return out.text(DONE)
      case 'apperror':
      case 'error':
        uiFrame(out, runId, entry.seq, JSON.stringify({ type: 'error', errorText: messageOf(entry.data) }))
        return out.text(DONE)
      default:
        // `stream_end`, and any other final entry, closes the stream.
        if (final) out.text(DONE)
    }
  },
  lost: (_runId: string, message: string) => `data: ${JSON.stringify({ type: 'error', errorText: message })}\n\n` + DONE,
}
