import type { EventColumns } from '../common/hub-wire.ts'

/** Caps on what one run's log may hold; the oldest events go first. */
export interface EventLogLimits {
  maxEvents: number
  maxBytes: number
}

/** One event as the run ingests it: the server cursor is parsed once, here, and kept with it. */
export interface IngestedEvent {
  type: string
  data: string
  /** The SSE `id:` field, when the server sent one. */
  id: string | undefined
  /** The server's gapless seq parsed from `id`, when its id scheme has one. */
  serverSeq: number | undefined
}

/**
 * The transcript of one run: numbers events with a gapless hub `seq` from 1 and
 * serves slices of it. Stored in columns, the form a subscriber receives, so a
 * catch-up is a few array slices and an event costs the hub little more than
 * its strings. Pure: no timers, no platform objects.
 */
export class EventLog {
  readonly #limits: EventLogLimits
  readonly #types: string[] = []
  readonly #data: string[] = []
  readonly #ids: Array<string | null> = []
  readonly #serverSeqs: Array<number | undefined> = []
  /** Index of the oldest held event: dropping from the front moves it, and the arrays are compacted now and then. */
  #head = 0
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
    return this.#lastSeq - this.size + 1
  }

  /** Events held now. */
  get size(): number {
    return this.#types.length - this.#head
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Appends an event and returns its hub seq. */
  append(event: IngestedEvent): number {
    const seq = ++this.#lastSeq
    this.#types.push(event.type)
    this.#data.push(event.data)
    this.#ids.push(event.id ?? null)
    this.#serverSeqs.push(event.serverSeq)
    this.#bytes += sizeOf(event.type, event.data, event.id)
    this.#trim()
    return seq
  }

  /** The server seq of the event with hub seq `seq`, if held and known. */
  serverSeqAt(seq: number): number | undefined {
    return this.#serverSeqs[this.#indexOf(seq)]
  }

  /** The server id of the event with hub seq `seq`, if held and sent. */
  idAt(seq: number): string | undefined {
    return this.#ids[this.#indexOf(seq)] ?? undefined
  }

  /** Events with `afterSeq < seq <= throughSeq`, clamped to what is held. */
  columns(runId: string, afterSeq: number, throughSeq = this.#lastSeq): EventColumns {
    const from = Math.max(afterSeq + 1, this.firstSeq)
    const to = Math.min(throughSeq, this.#lastSeq)
    // seq is gapless, so the slice bounds are arithmetic rather than a search.
    const start = this.#indexOf(from)
    const end = Math.max(start, this.#indexOf(to) + 1)
    return {
      runId,
      firstSeq: from,
      types: this.#types.slice(start, end),
      data: this.#data.slice(start, end),
      ids: this.#ids.slice(start, end),
    }
  }

  /** The hub seq of the newest held event with server id `id`, or undefined. */
  seqOfId(id: string): number | undefined {
    const index = this.#ids.lastIndexOf(id)
    return index >= this.#head ? this.#seqAtIndex(index) : undefined
  }

  /** The hub seq of the last held event whose server seq is at most `serverSeq` (0 when none is). */
  seqThroughServerSeq(serverSeq: number): number {
    let seq = this.firstSeq - 1
    for (let index = this.#head; index < this.#types.length; index++) {
      const own = this.#serverSeqs[index]
      if (own !== undefined && own > serverSeq) break
      if (own !== undefined) seq = this.#seqAtIndex(index)
    }
    return seq
  }

  #indexOf(seq: number): number {
    return this.#head + (seq - this.firstSeq)
  }

  #seqAtIndex(index: number): number {
    return this.firstSeq + (index - this.#head)
  }

  #trim(): void {
    const { maxEvents, maxBytes } = this.#limits
    while (this.size > 1 && (this.size > maxEvents || this.#bytes > maxBytes)) {
      const i = this.#head
      this.#bytes -= sizeOf(this.#types[i]!, this.#data[i]!, this.#ids[i] ?? undefined)
      this.#head++
    }
    // Compact once the dropped prefix is as long as what is held: amortized O(1) per event.
    if (this.#head > 1024 && this.#head >= this.size) {
      for (const column of [this.#types, this.#data, this.#ids, this.#serverSeqs] as unknown[][]) column.splice(0, this.#head)
      this.#head = 0
    }
  }
}

/** UTF-16 code units are what the JS heap actually stores; close enough for a cap. */
function sizeOf(type: string, data: string, id: string | undefined): number {
  return data.length * 2 + type.length * 2 + (id?.length ?? 0) * 2 + 32
}
