import type { LogEntry } from './run-log.ts'
import type { StreamFormat } from './run-stream.ts'

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' }

/** [spec] HTML SSE: a data value with line breaks is sent as one `data:` line per line. */
function dataLines(data: string): string {
  if (!/[\r\n]/.test(data)) return `data: ${data}\n`
  return data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')
}

/**
 * The reference chat protocol (docs/server-contract.md, preset `reference`): `id: <run>:<seq>`, the event's own
 * name, its data verbatim. The run's final event (`stream_end`, `cancel`, `apperror`, `error`)
 * is an entry like any other; `apperror` stands in for an end the log cannot give.
 */
export const referenceFormat: StreamFormat = {
  headers: SSE_HEADERS,
  frame: (runId: string, entry: LogEntry) => `id: ${runId}:${entry.seq}\nevent: ${entry.event}\n${dataLines(entry.data)}\n`,
  lost: (_runId: string, message: string) => `event: apperror\ndata: ${JSON.stringify({ message })}\n\n`,
}

/** The log event that carries one UI message chunk (its data is the chunk's JSON). */
export const UI_CHUNK_EVENT = 'chunk'

const DONE = 'data: [DONE]\n\n'
/** A chunk event with the run's seq as its id (`<run>:<seq>`): a client that keeps it resumes after it, others ignore it. */
const uiFrame = (runId: string, seq: number, json: string) => `id: ${runId}:${seq}\ndata: ${json}\n\n`

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
  frame(runId: string, entry: LogEntry, final: boolean): string {
    if (entry.event === UI_CHUNK_EVENT) return uiFrame(runId, entry.seq, entry.data) + (final ? DONE : '')
    switch (entry.event) {
      case 'cancel':
        return uiFrame(runId, entry.seq, JSON.stringify({ type: 'abort' })) + DONE
      case 'apperror':
      case 'error':
        return uiFrame(runId, entry.seq, JSON.stringify({ type: 'error', errorText: messageOf(entry.data) })) + DONE
      default:
        // `stream_end`, and any other final entry, closes the stream.
        return final ? DONE : ''
    }
  },
  lost: (_runId: string, message: string) => `data: ${JSON.stringify({ type: 'error', errorText: message })}\n\n` + DONE,
}
