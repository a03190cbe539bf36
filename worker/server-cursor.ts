import { serverSeqOf, type ServerContract } from './server-contract.ts'

/** What an incoming event is to the run, by its id. */
export type Ingest =
  /** Not held yet: log it. `serverSeq` is the parsed cursor of a `seq` id. */
  | { kind: 'new'; serverSeq: number | undefined }
  /** Held already (a replay after a reconnect): not progress, not logged. */
  | { kind: 'duplicate' }
  /** A `seq` server skipped seqs: the events between are missing. */
  | { kind: 'gap'; serverSeq: number; expected: number }

/**
 * Where a run stands with its server: the cursor it resumes from, and the one place that tells a
 * new event from a replayed one, whatever the id scheme (see `ServerContract`):
 * - `seq`: by number; a jump is a gap.
 * - `opaque`: by equality with every id seen.
 * - `none`: by count: after a reconnect the server replays the run from its start, so the first
 *   events of each new connection, as many as the run holds, are skipped.
 */
export class ServerCursor {
  readonly #contract: ServerContract
  #serverSeq = 0
  #lastEventId: string | undefined
  readonly #seenIds = new Set<string>()
  /** Events without an id the run holds, and how many of them the current connection has yet to replay. */
  #idlessEvents = 0
  #replaySkip = 0

  constructor(contract: ServerContract, resumeFrom?: string) {
    this.#contract = contract
    if (resumeFrom !== undefined) {
      this.#lastEventId = resumeFrom
      if (contract.ids === 'seq') this.#serverSeq = serverSeqOf(resumeFrom) ?? 0
    }
  }

  /** Whether the server has sent any id: a run with none is the `none` scheme. */
  get hasIds(): boolean {
    return this.#lastEventId !== undefined
  }

  /** A new connection: a server without ids that replays (`replay`, or the default) starts over from the first event. */
  connected(): void {
    const { kind } = this.#contract.resume
    this.#replaySkip = kind === 'replay' || kind === 'auto' ? this.#idlessEvents : 0
  }

  ingest(id: string | undefined): Ingest {
    if (id === undefined) {
      if (this.#replaySkip > 0) {
        this.#replaySkip--
        return { kind: 'duplicate' }
      }
      this.#idlessEvents++
      return { kind: 'new', serverSeq: undefined }
    }
    const seq = this.#contract.ids === 'seq' ? serverSeqOf(id) : undefined
    if (seq !== undefined) {
      if (seq <= this.#serverSeq) return { kind: 'duplicate' }
      if (this.#serverSeq > 0 && seq > this.#serverSeq + 1) return { kind: 'gap', serverSeq: seq, expected: this.#serverSeq + 1 }
      this.#serverSeq = seq
    } else {
      if (this.#seenIds.has(id)) return { kind: 'duplicate' }
      this.#seenIds.add(id)
    }
    this.#lastEventId = id
    return { kind: 'new', serverSeq: seq }
  }

  /** A gap the server cannot fill: go on after it. */
  skipGap(serverSeq: number, id: string): void {
    this.#serverSeq = serverSeq
    this.#lastEventId = id
  }

  /** The request that resumes from here. */
  request(base: URL): { url: string; headers: Record<string, string> } {
    const url = new URL(base)
    const headers: Record<string, string> = {}
    const resume = this.#contract.resume
    const last = this.#lastEventId
    switch (resume.kind) {
      case 'query':
        if (resume.value === 'seq') url.searchParams.set(resume.param, String(this.#serverSeq))
        else if (last !== undefined) url.searchParams.set(resume.param, last)
        break
      case 'header':
        if (last !== undefined) headers['Last-Event-ID'] = last
        break
      case 'auto':
        // Parameters a server does not know are ignored: both the reference server's and the standard header.
        if (last === undefined) url.searchParams.set('after_seq', '0')
        else {
          url.searchParams.set('after_event_id', last)
          headers['Last-Event-ID'] = last
        }
        break
      case 'replay':
      case 'none':
        break
      default:
        return resume satisfies never
    }
    return { url: url.href, headers }
  }
}
