import type { RunEvent } from '../src/protocol.ts'

/** Caps on what one run's log may hold; the oldest events go first. */
export interface EventLogLimits {
  maxEvents: number
  maxBytes: number
}

/** What `EventLog.after` returns: the events a cursor has not seen, and whether some were already dropped. */
export interface LogSlice {
  events: RunEvent[]
  /** Events after the cursor fell out of the log (caps): the reader's transcript has a hole. */
  truncated: boolean
}

/**
 * The transcript of one run: numbers events with a gapless `seq` from 1 and
 * serves catch-up reads. Pure: no timers, no platform objects.
 */
export class EventLog {
  readonly #limits: EventLogLimits
  #events: RunEvent[] = []
  #bytes = 0
  #lastSeq = 0

  constructor(limits: EventLogLimits) {
    this.#limits = limits
  }

  /** The seq of the newest event (0 when none arrived yet). */
  get lastSeq(): number {
    return this.#lastSeq
  }

  /** The seq of the oldest event still held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#events[0]?.seq ?? this.#lastSeq + 1
  }

  get bytes(): number {
    return this.#bytes
  }

  append(type: string, data: string, id?: string): RunEvent {
    const event: RunEvent = id === undefined ? { seq: ++this.#lastSeq, type, data } : { seq: ++this.#lastSeq, type, data, id }
    this.#events.push(event)
    this.#bytes += sizeOf(event)
    this.#trim()
    return event
  }

  /** Events with `seq > afterSeq`, in order. */
  after(afterSeq: number): LogSlice {
    const truncated = afterSeq + 1 < this.firstSeq
    // seq is gapless, so the index is arithmetic rather than a search.
    const start = Math.max(0, afterSeq + 1 - this.firstSeq)
    return { events: this.#events.slice(start), truncated }
  }

  /**
   * Events after the one with server id `id` (a cursor that outlives hubs). Without that exact
   * event in the log, `seqOf` places the cursor; `truncated` says events between it and the log are missing.
   */
  afterEventId(id: string, seqOf: (id: string) => number | undefined): LogSlice {
    for (let i = this.#events.length - 1; i >= 0; i--) {
      if (this.#events[i]!.id === id) return { events: this.#events.slice(i + 1), truncated: false }
    }
    const cursor = seqOf(id)
    if (cursor === undefined) return { events: this.#events.slice(), truncated: this.#events.length > 0 }
    const serverSeq = (event: RunEvent) => (event.id === undefined ? undefined : seqOf(event.id))
    const start = this.#events.findIndex((event) => (serverSeq(event) ?? -1) > cursor)
    if (start === -1) return { events: [], truncated: false }
    return { events: this.#events.slice(start), truncated: serverSeq(this.#events[start]!)! > cursor + 1 }
  }

  #trim(): void {
    const { maxEvents, maxBytes } = this.#limits
    let drop = 0
    while (this.#events.length - drop > 1 && (this.#events.length - drop > maxEvents || this.#bytes > maxBytes)) {
      this.#bytes -= sizeOf(this.#events[drop]!)
      drop++
    }
    if (drop > 0) this.#events.splice(0, drop)
  }
}

/** UTF-16 code units are what the JS heap actually stores; close enough for a cap. */
function sizeOf(event: RunEvent): number {
  return event.data.length * 2 + event.type.length * 2 + (event.id?.length ?? 0) * 2 + 32
}
