import { MAX_SAFE, seqOfId, type ServerContract } from './server-contract.ts'

/** What an incoming event is to the run, by its id. */
export type Ingest =
  /** Not held yet: log it. `serverSeq` is the parsed cursor of a `seq` id (undefined past Number.MAX_SAFE_INTEGER). */
  | { kind: 'new'; serverSeq: number | undefined }
  /** Held already (a replay after a reconnect): not progress, not logged. */
  | { kind: 'duplicate' }
  /**
   * A `seq` server broke its promise: it skipped seqs (`skipped`: the events between are missing),
   * or its ids went backwards within one connection (`backwards`: the event cannot be placed).
   */
  | { kind: 'gap'; why: 'skipped' | 'backwards'; serverSeq: bigint; expected: bigint }
  /** An event that cannot be placed, on a connection whose loss the run has signalled already: drop it. */
  | { kind: 'lost' }

/** A Durable Streams control event, read (never logged): where the stream stands, or why it cannot be read. */
export type Control =
  | { kind: 'control'; closed: boolean; upToDate: boolean }
  | { kind: 'bad_control'; message: string }

/**
 * Where a run stands with its server: the cursor it resumes from, and the one place that tells a
 * new event from a replayed one, whatever the id scheme (see `ServerContract`):
 * - `seq`: by number; a jump is a gap, and so is the first event above the cursor + 1 and an id
 *   lower than the one before it on the same connection. Seqs are BigInts: a server's numbers
 *   past Number.MAX_SAFE_INTEGER still compare exactly (a Number would make every later event a duplicate).
 * - `opaque`: by equality with every id seen.
 * - `none`: by count: after a reconnect the server replays the run from its start, so the first
 *   events of each new connection, as many as the run holds, are skipped.
 * - `offset` (Durable Streams): the offset is read from the body, in control events; a reconnect
 *   resumes from the last one, and the data events since it, which the server sends again, are
 *   skipped by count.
 */
export class ServerCursor {
  readonly #contract: ServerContract
  #serverSeq = 0n
  /** The highest seq of the current connection: a replay climbs from the start, an id below it went backwards. */
  #connectionSeq = 0n
  /** A backwards id on this connection was signalled as a hole: later ones are dropped without another. */
  #lostOnConnection = false
  #lastEventId: string | undefined
  readonly #seenIds = new Set<string>()
  /** Events without an id the run holds, and how many of them the current connection has yet to replay. */
  #idlessEvents = 0
  #replaySkip = 0
  /** Durable Streams: the last control event's `streamNextOffset` and its stream cursor (`streamCursor`, a CDN cache key, not a position), and the data events after it. */
  #offset: string | undefined
  #streamCursor: string | undefined
  #sinceOffset = 0
  /** Offsets are read from control events: the `offset` resume, or a server the `auto` contract recognised by its first control event. */
  #offsetMode: boolean

  constructor(contract: ServerContract, resumeFrom?: string) {
    this.#contract = contract
    this.#offsetMode = contract.resume.kind === 'offset'
    if (resumeFrom !== undefined && contract.resume.kind === 'offset') this.#offset = resumeFrom
    else if (resumeFrom !== undefined) {
      this.#lastEventId = resumeFrom
      if (contract.ids === 'seq') this.#serverSeq = seqOfId(resumeFrom) ?? 0n
    }
  }

  /** Whether offsets come from control events (Durable Streams): a clean close is then routine, never the end. */
  get offsetMode(): boolean {
    return this.#offsetMode
  }

  /** Whether the server has sent any id: a run with none is the `none` scheme. */
  get hasIds(): boolean {
    return this.#lastEventId !== undefined
  }

  /** A new connection: a server without ids that replays (`replay`, or the default) starts over from the first event. */
  connected(): void {
    const { kind } = this.#contract.resume
    this.#replaySkip = this.#offsetMode ? this.#sinceOffset : kind === 'replay' || kind === 'auto' ? this.#idlessEvents : 0
    this.#connectionSeq = 0n
    this.#lostOnConnection = false
  }

  /**
   * [Durable Streams PROTOCOL.md 5.8] A control event, under the `offset` resume: read here, never
   * logged or counted. Undefined for every other event. Under the `auto` contract, the first control
   * event with a `streamNextOffset` (a run without ids) switches the run to offsets: with no spec
   * fields at all, a Durable Streams server is read whole.
   */
  control(type: string, data: string): Control | undefined {
    if (type !== 'control') return undefined
    const detecting = !this.#offsetMode && this.#contract.resume.kind === 'auto' && !this.hasIds
    if (!this.#offsetMode && !detecting) return undefined
    let fields: { streamNextOffset?: unknown; streamCursor?: unknown; upToDate?: unknown; streamClosed?: unknown } | undefined
    try {
      fields = JSON.parse(data) as typeof fields
    } catch {
      fields = undefined
    }
    if (typeof fields?.streamNextOffset !== 'string' || fields.streamNextOffset === '') {
      if (detecting) return undefined // an event named `control` of another server: an event like any other
      return { kind: 'bad_control', message: `A control event has no streamNextOffset string: ${data.slice(0, 80)}` }
    }
    this.#offsetMode = true
    this.#offset = fields.streamNextOffset
    if (typeof fields.streamCursor === 'string') this.#streamCursor = fields.streamCursor
    this.#sinceOffset = 0
    this.#replaySkip = 0
    return { kind: 'control', closed: fields.streamClosed === true, upToDate: fields.upToDate === true || fields.streamClosed === true }
  }

  ingest(id: string | undefined): Ingest {
    if (id === undefined) {
      if (this.#replaySkip > 0) {
        this.#replaySkip--
        return { kind: 'duplicate' }
      }
      this.#idlessEvents++
      this.#sinceOffset++
      return { kind: 'new', serverSeq: undefined }
    }
    const seq = this.#contract.ids === 'seq' ? seqOfId(id) : undefined
    if (seq !== undefined) {
      if (this.#connectionSeq > 0n && seq <= this.#connectionSeq) {
        if (this.#lostOnConnection) return { kind: 'lost' }
        return { kind: 'gap', why: 'backwards', serverSeq: seq, expected: this.#serverSeq + 1n }
      }
      this.#connectionSeq = seq
      if (seq <= this.#serverSeq) return { kind: 'duplicate' }
      // The first event too: a server whose run starts above the cursor lost what came before (a trimmed journal).
      if (seq > this.#serverSeq + 1n) return { kind: 'gap', why: 'skipped', serverSeq: seq, expected: this.#serverSeq + 1n }
      this.#serverSeq = seq
      this.#lastEventId = id
      return { kind: 'new', serverSeq: seq <= MAX_SAFE ? Number(seq) : undefined }
    } else {
      if (this.#seenIds.has(id)) return { kind: 'duplicate' }
      this.#seenIds.add(id)
    }
    this.#lastEventId = id
    return { kind: 'new', serverSeq: undefined }
  }

  /** A gap the server cannot fill: go on after it. Returns what to log the event with. */
  skipGap(serverSeq: bigint, id: string): Extract<Ingest, { kind: 'new' }> {
    this.#serverSeq = serverSeq
    this.#lastEventId = id
    return { kind: 'new', serverSeq: serverSeq <= MAX_SAFE ? Number(serverSeq) : undefined }
  }

  /** Ids went backwards again after a repair: the hole is signalled, this connection's misplaced events are dropped. */
  loseBackwards(): void {
    this.#lostOnConnection = true
  }

  /** The request that resumes from here. */
  request(base: URL): { url: string; headers: Record<string, string> } {
    const url = new URL(base)
    const headers: Record<string, string> = {}
    const resume = this.#contract.resume
    const last = this.#lastEventId
    if (this.#offsetMode) {
      // [Durable Streams] offset=-1 reads from the start; `live=sse` asks for this mode.
      url.searchParams.set('offset', this.#offset ?? url.searchParams.get('offset') ?? '-1')
      if (!url.searchParams.has('live')) url.searchParams.set('live', 'sse')
      if (this.#streamCursor !== undefined) url.searchParams.set('cursor', this.#streamCursor)
      return { url: url.href, headers }
    }
    switch (resume.kind) {
      case 'query':
        if (resume.value === 'seq') url.searchParams.set(resume.param, String(this.#serverSeq))
        else if (last !== undefined) url.searchParams.set(resume.param, last)
        break
      case 'header':
        if (last !== undefined) headers['Last-Event-ID'] = headerValue(last)
        break
      case 'auto':
        // Parameters a server does not know are ignored: both the reference server's and the standard header.
        if (last === undefined) url.searchParams.set('after_seq', '0')
        else {
          url.searchParams.set('after_event_id', last)
          headers['Last-Event-ID'] = headerValue(last)
        }
        break
      case 'replay':
        // A replaying server that gives ids (run-relay/server's UI stream) resumes after the last one;
        // one that does not know the parameter ignores it and replays, skipped by id. A query, not
        // `Last-Event-ID`: no CORS preflight for servers that never asked for one.
        if (last !== undefined) url.searchParams.set('after_event_id', last)
        break
      case 'offset': // handled above
      case 'none':
        break
      default:
        return resume satisfies never
    }
    return { url: url.href, headers }
  }
}

/**
 * [spec] EventSource sends `Last-Event-ID` as the id's UTF-8 bytes. `fetch` takes header values as
 * byte strings (each char one byte) and throws on anything above U+00FF, so the id is turned into its
 * UTF-8 bytes first: the server receives the same bytes a native EventSource would send. (Node reads
 * them as Latin-1: `Buffer.from(value, 'latin1').toString('utf8')` gives the id back.)
 */
function headerValue(id: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(id)) return id
  let bytes = ''
  for (const byte of new TextEncoder().encode(id)) bytes += String.fromCharCode(byte)
  return bytes
}
