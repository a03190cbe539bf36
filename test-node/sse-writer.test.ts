import fc from 'fast-check'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { describe, expect, it } from 'vitest'
import { referenceFormat, uiMessageFormat, UI_CHUNK_EVENT, type LogEntry } from '../server/index.ts'
import { SseChunks } from '../server/sse-writer.ts'

/** What an SSE client reads from these chunks: eventsource-parser, fed through a streaming decoder. */
function parse(chunks: Uint8Array[]): EventSourceMessage[] {
  const events: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  const decoder = new TextDecoder()
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }))
  parser.feed(decoder.decode())
  return events
}

const anyText = fc.string({ unit: 'binary', maxLength: 40 })
/** Data as SSE can carry it: its line breaks are kept as `\n` (a `\r\n` or a lone `\r` reads back as `\n`). */
const sseData = (data: string) => data.replace(/\r\n|\r/g, '\n')
/** Lone surrogates are not text: TextEncoder and the writer both turn each into U+FFFD. */
const wellFormed = (text: string) => new TextDecoder().decode(new TextEncoder().encode(text))

describe('SseChunks: the bytes of a run stream', () => {
  it('writes every event a client reads back as it was, any text, across chunk ends (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ event: fc.constantFrom('token', 'tool', 'é vent'), data: anyText }), { maxLength: 60 }), fc.integer({ min: 1, max: 300 }), (given, chunkBytes) => {
        const out = new SseChunks(chunkBytes)
        const entries: LogEntry[] = given.map((entry, i) => ({ seq: i + 1, ...entry }))
        const chunks: Uint8Array[] = []
        for (const entry of entries) {
          referenceFormat.frame(out, 'run-1', entry, false)
          out.endFrame()
          // Taken now and then, as a stream's pulls do.
          if (entry.seq % 7 === 0) chunks.push(...out.take())
        }
        chunks.push(...out.take())
        expect(parse(chunks)).toEqual(entries.map((entry) => ({ id: `run-1:${entry.seq}`, event: entry.event, data: sseData(wellFormed(entry.data)) })))
        // Each chunk ends at a frame's end, and none grows far past chunkBytes (one frame at most).
        for (const chunk of chunks) expect(chunk.at(-1)).toBe(10)
      }),
    )
  })

  it('writes the same bytes as joining the frames as strings and encoding them', () => {
    const entries: LogEntry[] = ['{"text":"a"}', 'two\nlines', '😀 é', ''].map((data, i) => ({ seq: i + 1, event: i === 3 ? 'stream_end' : UI_CHUNK_EVENT, data }))
    for (const format of [referenceFormat, uiMessageFormat]) {
      const out = new SseChunks()
      entries.forEach((entry, i) => format.frame(out, 'r', entry, i === entries.length - 1))
      const bytes = Buffer.concat(out.take())
      const expected =
        format === referenceFormat
          ? 'id: r:1\nevent: chunk\ndata: {"text":"a"}\n\nid: r:2\nevent: chunk\ndata: two\ndata: lines\n\nid: r:3\nevent: chunk\ndata: 😀 é\n\nid: r:4\nevent: stream_end\ndata: \n\n'
          : 'id: r:1\ndata: {"text":"a"}\n\nid: r:2\ndata: two\ndata: lines\n\nid: r:3\ndata: 😀 é\n\ndata: [DONE]\n\n'
      expect(bytes.toString('utf8')).toBe(expected)
    }
  })
})
