import { createParser } from 'eventsource-parser'

export interface SseEvent {
  id?: string
  event?: string
  data: string
}

export interface SseRead {
  status: number
  headers: Headers
  events: SseEvent[]
  comments: string[]
  /** The server ended the response (as opposed to the reader stopping). */
  ended: boolean
}

/**
 * Reads an SSE response with fetch and eventsource-parser, as the hub's fetch transport does.
 * `stopWhen` stops reading early (a client that drops the connection); `delayMs` reads slowly.
 */
export async function readSse(url: string, options: { headers?: Record<string, string>; method?: string; body?: string; stopWhen?: (events: SseEvent[]) => boolean; delayMs?: number; timeoutMs?: number } = {}): Promise<SseRead> {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(new Error(`the stream ${url} did not end within ${options.timeoutMs ?? 20_000} ms`)), options.timeoutMs ?? 20_000)
  try {
    const response = await fetch(url, { method: options.method ?? 'GET', headers: options.headers, body: options.body, signal: abort.signal })
    const events: SseEvent[] = []
    const comments: string[] = []
    const parser = createParser({ onEvent: (event) => events.push({ id: event.id, event: event.event, data: event.data }), onComment: (comment) => comments.push(comment) })
    if (!response.body) return { status: response.status, headers: response.headers, events, comments, ended: true }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { status: response.status, headers: response.headers, events, comments, ended: true }
      parser.feed(value)
      if (options.stopWhen?.(events)) {
        await reader.cancel()
        return { status: response.status, headers: response.headers, events, comments, ended: false }
      }
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
    }
  } finally {
    clearTimeout(timer)
  }
}

/** The seq of a reference id `<run>:<seq>`. */
export const seqOf = (event: SseEvent): number => Number(event.id?.split(':').at(-1))
