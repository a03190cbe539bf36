import { RunServerError, type LiveBatch, type NewEntry, type RunLog } from './run-log.ts'

/** Options of a `RunProducer` (`producer` of the run servers' options; `leaseMs` is theirs). */
export interface ProducerOptions {
  /** How long the run counts as alive without an append or a renewal (renewed every third of it). @defaultValue 2500 */
  leaseMs?: number
  /** Most entries per append. @defaultValue 512 */
  maxBatch?: number
  /**
   * How long an append is retried while the log fails (a Redis outage or restart), with the events
   * emitted meanwhile held in order; a fenced append is safe to retry. Past it, the run stops.
   * @defaultValue 60_000
   */
  logOutageMs?: number
  /**
   * The producer could not follow its run (the log's subscribe failed): it still writes, but a
   * cancel from another instance reaches it only at its next append or renewal (a refused write)
   * instead of at once. @defaultValue a console.warn
   */
  onFollowError?: (error: unknown, runId: string) => void
}

/** The defaults of `ProducerOptions`. */
export const PRODUCER_DEFAULTS = {
  /** The default of `ProducerOptions.leaseMs`. */
  leaseMs: 2500,
  /** The default of `ProducerOptions.maxBatch`. */
  maxBatch: 512,
  /** The default of `ProducerOptions.logOutageMs`. */
  logOutageMs: 60_000,
  /** The default of `ProducerOptions.onFollowError`: a `console.warn` that names the run. */
  onFollowError: (error: unknown, runId: string) =>
    console.warn(`run-relay/server: run ${runId} could not follow its log (${String(error)}); a cancel from another instance reaches it at its next write instead of at once`),
} as const

/**
 * Runs `task` once this turn of the event loop is over; returns how to cancel it. Node and Bun's
 * `setImmediate` runs right after the turn's I/O, where `setTimeout(…, 0)` waits at least 1 ms
 * (Node clamps it), which every event's latency would pay; elsewhere (Deno, edge runtimes) a timer.
 */
function nextTurn(task: () => void): () => void {
  const { setImmediate, clearImmediate } = globalThis as { setImmediate?: (task: () => void) => unknown; clearImmediate?: (handle: unknown) => void }
  if (setImmediate && clearImmediate) {
    const handle = setImmediate(task)
    return () => clearImmediate(handle)
  }
  const handle = setTimeout(task, 0)
  return () => clearTimeout(handle)
}

/**
 * Writes one run into the log: `emit` buffers, and the buffer goes out as one append per tick
 * (never one round trip per token), one append in flight at a time, so a fast producer's
 * events batch up by themselves while the log is busy. Renews its lease while idle.
 * `signal` aborts when the run ended without it (a cancel from any instance, an abandon) or
 * the log refused a write for good: stop generating then.
 */
export class RunProducer {
  /** The run this producer writes. */
  readonly runId: string
  /** The session the run belongs to. */
  readonly sessionId: string
  readonly #log: RunLog
  readonly #owner: string
  readonly #options: Required<ProducerOptions>
  readonly #abort = new AbortController()
  #seq = 0
  #pending: NewEntry[] = []
  #finalQueued = false
  /** The final append is on its way: the end a follower hears of may be our own. */
  #finalInFlight = false
  #done = false
  #flushing: Promise<void> | undefined
  /** Cancels the scheduled flush, if one is scheduled. */
  #scheduled: (() => void) | undefined
  #lastWrite = Date.now()
  #renewTimer: ReturnType<typeof setInterval>
  #unfollow: (() => void) | undefined

  /** Use `RunHost.start`, which creates the run in the log first. */
  constructor(log: RunLog, run: { runId: string; sessionId: string; owner: string }, options: ProducerOptions = {}) {
    this.#log = log
    this.runId = run.runId
    this.sessionId = run.sessionId
    this.#owner = run.owner
    // An option given as undefined takes its default (a plain spread would keep the undefined).
    this.#options = { ...PRODUCER_DEFAULTS, ...(Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as ProducerOptions) }
    const every = Math.max(10, Math.floor(this.#options.leaseMs / 3))
    this.#renewTimer = setInterval(() => void this.#renew(every), every)
    // A cancel from another instance ends the run in the log; this is how the generator hears of it at once.
    void log.follow(this.runId, (batch: LiveBatch) => {
      if (batch.ended && !this.#done && !this.#finalInFlight) this.#stop(batch.entries.at(-1)?.event === 'cancel' ? 'the run was cancelled' : 'the run was ended by another writer')
    }).then(
      (unfollow) => (this.#done ? unfollow() : (this.#unfollow = unfollow)),
      (error: unknown) => this.#options.onFollowError(error, this.runId),
    )
  }

  /** Aborts when the generator should stop; `signal.reason` says why. */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  /** Events buffered and not yet in the log (a producer far ahead of the log can wait on `flush()`). */
  get pending(): number {
    return this.#pending.length
  }

  /** The seq of the last event in the log. */
  get lastSeq(): number {
    return this.#seq
  }

  /** Queues one event; `data` is sent verbatim if it is a string, else as JSON. Ignored once the run ended. */
  emit(event: string, data: unknown = {}): void {
    if (this.#done || this.#finalQueued) return
    this.#pending.push({ event, data: typeof data === 'string' ? data : JSON.stringify(data) })
    this.#schedule()
  }

  /** Ends the run with a final event (default `stream_end`) after everything emitted; resolves once it is in the log. */
  async end(event = 'stream_end', data: unknown = {}): Promise<void> {
    if (this.#done || this.#finalQueued) return this.flush()
    this.emit(event, data)
    this.#finalQueued = true
    await this.flush()
  }

  /** Resolves when everything emitted so far is in the log (or was dropped because the run ended). */
  async flush(): Promise<void> {
    if (this.#scheduled !== undefined) {
      this.#scheduled()
      this.#scheduled = undefined
    }
    while (this.#pending.length > 0 && !this.#done) await (this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined)))
    if (this.#flushing) await this.#flushing
  }

  #schedule(): void {
    if (this.#scheduled !== undefined || this.#flushing) return
    // One tick: every emit of this turn of the event loop joins one append.
    this.#scheduled = nextTurn(() => {
      this.#scheduled = undefined
      void this.flush()
    })
  }

  async #write(): Promise<void> {
    const batch = this.#pending.splice(0, this.#options.maxBatch)
    const final = this.#finalQueued && this.#pending.length === 0
    const expectedSeq = this.#seq
    this.#finalInFlight = final
    let failingSince: number | undefined
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.#log.append(this.runId, { owner: this.#owner, expectedSeq, leaseMs: this.#options.leaseMs }, batch, final)
        // A retry whose first try landed (its reply was lost) is refused as stale at exactly our seq + batch.
        const landed = result.ok || (result.reason === 'stale' && attempt > 1 && result.lastSeq === expectedSeq + batch.length)
        if (landed) {
          this.#seq = expectedSeq + batch.length
          this.#lastWrite = Date.now()
          if (final) this.#finish()
        } else this.#stop(result.reason === 'ended' ? 'the run has ended (cancelled or abandoned)' : `the log refused the append (${result.reason})`)
        break
      } catch (error) {
        // The log is away (Redis restarting, a failover): hold the events and try again, under the
        // fence, until it is back or `logOutageMs` has passed; the lease is renewed by this append.
        failingSince ??= Date.now()
        if (this.#done || Date.now() - failingSince >= this.#options.logOutageMs) {
          this.#stop(`the log failed for ${Date.now() - failingSince} ms (${attempt} attempts): ${String(error)}`)
          break
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * 2 ** (attempt - 1))))
      }
    }
    if (this.#pending.length > 0 && !this.#done) this.#schedule()
  }

  async #renew(every: number): Promise<void> {
    if (this.#done || Date.now() - this.#lastWrite < every) return
    try {
      if (!(await this.#log.renew(this.runId, this.#owner, this.#options.leaseMs)) && !this.#done) this.#stop('the run has ended (cancelled or abandoned)')
    } catch {
      // The next renewal or append tries again; the lease has slack for a missed one.
    }
  }

  #finish(): void {
    this.#done = true
    clearInterval(this.#renewTimer)
    this.#unfollow?.()
  }

  #stop(reason: string): void {
    if (this.#done) return
    this.#finish()
    this.#pending = []
    this.#abort.abort(new RunServerError('run_ended', reason))
  }
}
