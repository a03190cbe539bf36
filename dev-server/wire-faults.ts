import type { LogEntry, SseWriter, StreamFormat } from '../server/index.ts'
import { frameOf, responseHeaders, wireEventsOf, type EndMode, type WireMode } from './wire.ts'

/**
 * The dev chat server's wire faults, as a thin layer around run-relay/server's stream: a
 * `StreamFormat` that writes each log entry in the run's wire mode and marks where a fault
 * fires, and a body wrapper that carries the faults out (cut the response, stall it, write
 * bytes that are not UTF-8). The library itself knows nothing of them.
 */

/** The per-entry faults of one run, mutated as they fire: each fires once, on the first connection the entry goes to. */
export interface EntryFaults {
  dropAfter?: number
  stallAfter?: number
  malformedAt?: number
  skipSeqAt?: number
  bareIdAt?: number
}

/** What a connection's format needs to know of its run, read as each entry goes out (a test may replace the faults mid-run). */
export interface FormattedRun {
  settings: { wire: WireMode; end: EndMode }
  faults: EntryFaults
  /** The seq of the `apperror` a stopped worker left in the log: sent without an id, as a server that lost its run would. */
  syntheticSeq?: number
}

// U+0000 never appears in a frame otherwise: the data is JSON (JSON.stringify escapes it), and
// names and ids are the server's own. In UTF-8 it is the byte 0x00 and nothing else is.
const MARK = 0x00
const DROP = 'D'
const STALL = 'S'
const MALFORMED = 'M'

const encoder = new TextEncoder()
// A line without a colon, an empty `id`, a `retry` that is no number, then "data: <invalid UTF-8>".
const MALFORMED_BYTES = new Uint8Array([...encoder.encode('this line has no colon\nid\nretry: soon\n\n'), 0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a, 0x0a])

const apperror = (message: string) => `event: apperror\ndata: ${JSON.stringify({ message })}\n\n`

/** The format of one connection to `run`: its wire mode, with the run's entry faults marked. */
export function faultyFormat(run: FormattedRun): StreamFormat {
  return {
    headers: responseHeaders(run.settings.wire),
    frame(out: SseWriter, runId: string, entry: LogEntry): void {
      const { faults } = run
      if (entry.seq === run.syntheticSeq) return run.settings.wire === 'reference' ? out.text(apperror('the live worker stopped')) : undefined
      if (entry.seq === faults.skipSeqAt) {
        faults.skipSeqAt = undefined
        return
      }
      let text = wireEventsOf(run.settings.wire, run.settings.end, runId, entry)
        .map((event) => (entry.seq === faults.bareIdAt ? `id\n\n${frameOf({ ...event, id: undefined })}` : frameOf(event)))
        .join('')
      if (entry.seq === faults.malformedAt) {
        faults.malformedAt = undefined
        text += `\u0000${MALFORMED}`
      }
      if (entry.seq === faults.stallAfter) {
        faults.stallAfter = undefined
        text += `\u0000${STALL}`
      }
      if (entry.seq === faults.dropAfter) {
        faults.dropAfter = undefined
        text += `\u0000${DROP}`
      }
      out.text(text)
    },
    lost: (_runId: string, message: string) => apperror(message),
  }
}

/**
 * Carries out the marks of `faultyFormat` on a response body: after a drop mark the response
 * ends (a proxy timeout, a deploy: the client must resume); after a stall mark nothing more is
 * written, not even heartbeats, yet the response still ends with the run, as it always did.
 */
export function withWireFaults(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let stalled = false

  /** Writes one chunk of the body, carrying out its marks; false when it wrote nothing (a pull must then read on). */
  function write(controller: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array): boolean {
    let wrote = false
    const enqueue = (bytes: Uint8Array) => {
      controller.enqueue(bytes)
      wrote = true
    }
    let from = 0
    for (let at = chunk.indexOf(MARK); at >= 0; at = chunk.indexOf(MARK, from)) {
      if (at > from) enqueue(chunk.slice(from, at))
      const mark = String.fromCharCode(chunk[at + 1]!)
      from = at + 2
      if (mark === MALFORMED) enqueue(MALFORMED_BYTES)
      else if (mark === STALL) {
        stalled = true
        return wrote
      } else if (mark === DROP) {
        close(controller)
        void reader.cancel().catch(() => {})
        return true
      }
    }
    if (from < chunk.length) enqueue(chunk.slice(from))
    return wrote
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // [spec] A pull that enqueues nothing is not called again for the same read: read on until something is written.
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>
        try {
          next = await reader.read()
        } catch (error) {
          return controller.error(error)
        }
        if (next.done) return close(controller)
        if (!stalled && write(controller, next.value)) return
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

function close(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close()
  } catch {
    // Cancelled meanwhile (the client went away): nothing to close.
  }
}
