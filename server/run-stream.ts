import { ABANDONED_ENTRY } from '../protocol/reference.ts'
import type { LiveBatch, LogEntry, RunLog, RunRecord } from './run-log.ts'
import { SseChunks, type SseWriter } from './sse-writer.ts'

/** How a run's entries become SSE text: the reference protocol, or the AI SDK's UI message stream. */
export interface StreamFormat {
  /** The response headers of a stream in this format (its content type, say). */
  headers: Record<string, string>
  /** Writes the frames for one entry (none, one or more) to `out`; `final` marks the run's last one. */
  frame(out: SseWriter, runId: string, entry: LogEntry, final: boolean): void
  /** The frames that end a stream whose run can no longer end in the log (it expired, or lost its tail). */
  lost(runId: string, message: string): string
}

/** Options of `runEventStream`: where to start, the format, and the timings of a reader. */
export interface RunStreamOptions {
  /** Entries after this seq, or `'live'`: only what is appended from now on. */
  afterSeq: number | 'live'
  /** How entries become SSE frames (`referenceFormat`, `uiMessageFormat`). */
  format: StreamFormat
  /** An SSE comment after this much silence. @defaultValue 5000 */
  heartbeatMs?: number
  /** After this much silence, ask the log whether the run's producer is gone (and end it if so). @defaultValue 2000 */
  abandonCheckMs?: number
  /**
   * Most entries per chunk read from the log: a catch-up is read page by page, the next page
   * fetched while the client takes this one. @defaultValue 4096
   */
  pageSize?: number
  /** Live entries held for a reader that is behind; past it, they are dropped and read from the log later. @defaultValue 1024 */
  liveQueue?: number
  /**
   * A run whose lease ran out is ended only if it is still out this much later, with nothing
   * appended meanwhile: a producer that was cut off from the log (a Redis outage) renews as soon as
   * the log is back, before anyone declares it dead. @defaultValue 1000
   */
  confirmAbandonMs?: number
  /** The final entry for a run whose producer is gone. @defaultValue the reference protocol's `apperror` */
  abandonedEntry?: {
    /** The entry's event name. */
    event: string
    /** The entry's data. */
    data: string
  }
  /**
   * A log call that has not answered by then ends the response (the client resumes from its
   * cursor, perhaps on another instance) instead of holding it open, silent: node-redis queues
   * commands while it reconnects, so a call made while Redis is away waits until it is back.
   * @defaultValue 5000
   */
  logTimeoutMs?: number
}

/** The defaults of `RunStreamOptions` (the run servers pass their own `abandonCheckMs` and `confirmAbandonMs`, derived from `leaseMs`). */
export const RUN_STREAM_DEFAULTS = {
  /** The default of `RunStreamOptions.heartbeatMs`. */
  heartbeatMs: 5000,
  /** The default of `RunStreamOptions.abandonCheckMs`. */
  abandonCheckMs: 2000,
  /** The default of `RunStreamOptions.confirmAbandonMs`. */
  confirmAbandonMs: 1000,
  /** The default of `RunStreamOptions.pageSize`. */
  pageSize: 4096,
  /** The default of `RunStreamOptions.liveQueue`. */
  liveQueue: 1024,
  /** The default of `RunStreamOptions.abandonedEntry`. */
  abandonedEntry: ABANDONED_ENTRY,
  /** The default of `RunStreamOptions.logTimeoutMs`. */
  logTimeoutMs: 5000,
} as const

const HEARTBEAT = ': heartbeat\n\n'

/**
 * One SSE response body for one run, read from the log by its log cursor (`cursor`, the last seq
 * sent). Pull-based: nothing is read or queued while the client is not reading (backpressure through the response body), and a
 * catch-up is read in pages. Follows the run before it reads the log, so nothing falls between
 * the two; live batches are a hint: the log is the truth, read whenever the queue has a gap.
 * While silent it sends heartbeat comments and checks the run's lease, so readers of a run
 * whose producer died get one final `apperror` instead of a hang.
 */
export function runEventStream(log: RunLog, runId: string, options: RunStreamOptions): ReadableStream<Uint8Array> {
  // An option given as undefined takes its default (a plain spread would keep the undefined).
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as RunStreamOptions
  const o = { ...RUN_STREAM_DEFAULTS, ...given }
  /** The bytes of the next chunk of the body. */
  const out = new SseChunks()
  let cursor = 0
  let knownLast = 0
  let ended = false
  let closed = false
  let queue: LogEntry[] = []
  let wake: (() => void) | undefined
  let lastActivity = Date.now()
  let unfollow: (() => void) | undefined
  /** The page after a full one, read while the client takes that one. */
  let prefetched: { afterSeq: number; page: Promise<LogEntry[]> } | undefined

  /** One log call, bounded by `logTimeoutMs`. */
  function bounded<T>(call: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the run log did not answer ${what} within ${o.logTimeoutMs} ms`)), o.logTimeoutMs)
    })
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer))
  }

  const onBatch = (batch: LiveBatch): void => {
    if (queue.length + batch.entries.length <= o.liveQueue) queue.push(...batch.entries)
    else queue = [] // too far behind: these are read from the log when the reader gets there
    knownLast = Math.max(knownLast, batch.entries.at(-1)?.seq ?? 0)
    if (batch.ended) ended = true
    wake?.()
  }

  function stop(): void {
    closed = true
    unfollow?.()
    wake?.()
  }

  /** Waits for a live batch or `ms`; true when it timed out. */
  function sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined
        resolve(true)
      }, ms)
      wake = () => {
        clearTimeout(timer)
        wake = undefined
        resolve(false)
      }
    })
  }

  /** Writes the next frames to `out` (perhaps none); the stream is over once `closed`. */
  async function next(): Promise<void> {
    for (;;) {
      if (closed) return
      while (queue.length > 0 && queue[0]!.seq <= cursor) queue.shift()
      let batch: LogEntry[] = []
      if (queue[0]?.seq === cursor + 1) {
        let count = 1
        while (count < queue.length && count < o.pageSize && queue[count]!.seq === cursor + 1 + count) count++
        batch = queue.splice(0, count)
      } else if (knownLast > cursor) {
        batch = await readPage()
        if (batch[0]?.seq !== cursor + 1) return lost(`the log no longer holds this run's events after seq ${cursor}`)
      }
      if (batch.length > 0) {
        cursor = batch.at(-1)!.seq
        lastActivity = Date.now()
        // The last entry of an ended run is its final one.
        const final = ended && cursor >= knownLast
        for (let i = 0; i < batch.length; i++) {
          o.format.frame(out, runId, batch[i]!, final && i === batch.length - 1)
          out.endFrame()
        }
        if (final) stop()
        return
      }
      if (ended) return stop()
      const timedOut = await sleep(Math.max(1, Math.min(o.heartbeatMs, o.abandonCheckMs)))
      if (!timedOut || closed) continue
      const silentMs = Date.now() - lastActivity
      if (silentMs >= o.abandonCheckMs) {
        await checkRun()
        if (closed) return
      }
      if (silentMs >= o.heartbeatMs) {
        lastActivity = Date.now()
        return out.text(HEARTBEAT)
      }
    }
  }

  /** The page after the cursor; when it is full and more is known, the one after it is requested now. */
  async function readPage(): Promise<LogEntry[]> {
    const ahead = prefetched?.afterSeq === cursor ? prefetched.page : undefined
    prefetched = undefined
    const page = await (ahead ?? bounded(log.read(runId, cursor, o.pageSize), 'a read'))
    const last = page.at(-1)?.seq ?? cursor
    if (page.length === o.pageSize && knownLast > last && !closed) {
      const next = bounded(log.read(runId, last, o.pageSize), 'a read')
      next.catch(() => {}) // read again, and its error met, when the page is wanted
      prefetched = { afterSeq: last, page: next }
    }
    return page
  }

  /** The log is the truth when live hints go missing (a dropped pub/sub message), and ends an abandoned run. */
  async function checkRun(): Promise<void> {
    const record = await bounded(log.record(runId), 'a status check')
    if (!record) return lost('the run expired from the log')
    knownLast = Math.max(knownLast, record.lastSeq)
    if (record.ended) ended = true
    // Of all the instances that notice, one wins; its entry reaches every reader through the log.
    if (record.abandoned && (await bounded(stillAbandoned(log, runId, record, o.confirmAbandonMs), 'a status check'))) {
      await bounded(log.endRun(runId, o.abandonedEntry, 'abandoned'), 'an abandon')
    }
  }

  /** Ends the stream with the format's frames for a run the log cannot end. */
  function lost(message: string): void {
    out.text(o.format.lost(runId, message))
    stop()
  }

  return new ReadableStream<Uint8Array>(
    {
      async start() {
        const following = log.follow(runId, onBatch)
        try {
          unfollow = await bounded(following, 'a follow')
          const record = await bounded(log.record(runId), 'a status check')
          knownLast = Math.max(knownLast, record?.lastSeq ?? 0)
          if (record?.ended) ended = true
          cursor = o.afterSeq === 'live' ? (record?.lastSeq ?? 0) : Math.min(o.afterSeq, knownLast)
        } catch (error) {
          // A follow that answers after its timeout is undone when it does: no channel or listener outlives the response.
          if (!unfollow) following.then((late) => late(), () => {})
          stop()
          throw error
        }
      },
      async pull(controller) {
        try {
          // [spec] A pull that enqueues nothing is not called again for a read already waiting: a
          // batch the format writes as nothing (UI message stream entries that are not chunks) would
          // leave the client hanging. Read on until there are bytes or the stream is over.
          do await next()
          while (out.size === 0 && !closed)
        } catch (error) {
          // The log failed (Redis down): end this response; the client resumes from its server cursor.
          stop()
          controller.error(error)
          return
        }
        for (const chunk of out.take()) controller.enqueue(chunk)
        if (closed) controller.close()
      },
      cancel() {
        stop()
      },
    },
    { highWaterMark: 1 },
  )
}

/**
 * True when a stream from `afterSeq` would carry nothing, ever: the run has ended, and the reader
 * has its last entry already (a reload after the end) or asked for live entries only. Answer such a
 * request with 204, SSE's "do not reconnect" (the hub then marks the run ended): a 200 whose body
 * ends at once, with no final event in it, reads as a dropped connection, and the client retries.
 */
export function nothingMoreAfter(record: RunRecord, afterSeq: number | 'live'): boolean {
  return record.ended && (afterSeq === 'live' || afterSeq >= record.lastSeq)
}

/**
 * A run seen abandoned (its lease ran out) is dead only if it still is `confirmMs` later with no
 * new entry: one expired read right after a log outage is the outage, not the producer.
 */
export async function stillAbandoned(log: RunLog, runId: string, seen: RunRecord, confirmMs: number): Promise<boolean> {
  if (confirmMs > 0) await new Promise((resolve) => setTimeout(resolve, confirmMs))
  const again = await log.record(runId)
  return again !== undefined && again.abandoned && !again.ended && again.lastSeq === seen.lastSeq
}
