import { ABANDONED_ENTRY } from '../protocol/reference.ts'
import { memoryRunLog } from './memory-log.ts'
import { RunProducer, PRODUCER_DEFAULTS, type ProducerOptions } from './producer.ts'
import { RunServerError, type RunLog, type RunRecord } from './run-log.ts'
import { runEventStream, stillAbandoned, RUN_STREAM_DEFAULTS, type StreamFormat } from './run-stream.ts'

/** Options of `createRunHost`, and of the run servers built on it. */
export interface RunHostOptions {
  /** Where runs live. @defaultValue memoryRunLog() (one process) */
  log?: RunLog
  /**
   * A producer's lease, renewed every third of it: a run whose producer stops renewing for this
   * long (and `confirmAbandonMs` more) is ended with `apperror`, so a dead producer's readers learn
   * it within seconds. @defaultValue 2500
   */
  leaseMs?: number
  /** Heartbeat comment interval on stream responses. @defaultValue 5000 */
  heartbeatMs?: number
  /** A silent stream response asks the log after this long whether the run's producer is gone. @defaultValue leaseMs / 4 */
  abandonCheckMs?: number
  /** An expired lease must still be expired this much later (see `RunStreamOptions.confirmAbandonMs`). @defaultValue 1000, at most leaseMs / 2 */
  confirmAbandonMs?: number
  /** A stream response whose log call has not answered by then ends (see `RunStreamOptions.logTimeoutMs`). @defaultValue 5000 */
  logTimeoutMs?: number
  /** Producer batching (see `RunProducer`). */
  producer?: Omit<ProducerOptions, 'leaseMs'>
  /** New run ids. @defaultValue a random id */
  newRunId?: () => string
}

/** What `RunHost.start` did: started the run, or why not. */
export type StartResult =
  | {
      /** The run started. */
      ok: true
      /** The new run's id. */
      runId: string
      /** The run's producer (its generator writes through it). */
      producer: RunProducer
    }
  /** The session runs another run now. */
  | {
      /** Not started. */
      ok: false
      /** The session's running run: attach to it. */
      activeRunId: string
    }
  /** `newRunId` gave the id of a run the log holds. */
  | {
      /** Not started. */
      ok: false
      /** The id that was taken. */
      runIdTaken: string
    }

/** What the generator of a run is given. */
export type Generate = (run: RunProducer) => void | Promise<void>


/** A run server's protocol-free core over a `RunLog` (see `createRunHost`). */
export interface RunHost {
  /** The log the runs live in. */
  readonly log: RunLog
  /**
   * Starts a run in `sessionId` unless one is active there (then `activeRunId`; a run whose
   * producer is gone is ended first, so a dead run never blocks its session). `generate` runs
   * in this process; when it returns the run ends with `stream_end`, when it throws with `apperror`.
   */
  start(sessionId: string, generate: Generate): Promise<StartResult>
  /** A response body with the run's events after `afterSeq` (or from now on), then live ones, until its end. */
  stream(runId: string, afterSeq: number | 'live', format: StreamFormat): ReadableStream<Uint8Array>
  /** Ends the run with `cancel`, from any instance; its producer's `signal` aborts. */
  cancel(runId: string): Promise<'cancelled' | 'ended' | 'unknown'>
  /** The run's record (`undefined` for a run the log does not hold), after ending it with `apperror` if its producer is gone. */
  status(runId: string): Promise<RunRecord | undefined>
  /** Runs this process is producing now. */
  readonly producing: number
  /** Closes the log (its connections). */
  close(): Promise<void>
}

/**
 * The protocol-free core of a run server over a `RunLog`: start a run (its generator runs here;
 * its events go to the log), stream a run from a cursor, cancel, status. Any instance over the
 * same log can stream, cancel and report any run.
 */
export function createRunHost(options: RunHostOptions = {}): RunHost {
  const log = options.log ?? memoryRunLog()
  const leaseMs = options.leaseMs ?? PRODUCER_DEFAULTS.leaseMs
  const heartbeatMs = options.heartbeatMs ?? RUN_STREAM_DEFAULTS.heartbeatMs
  const abandonCheckMs = options.abandonCheckMs ?? Math.max(10, Math.floor(leaseMs / 4))
  const confirmAbandonMs = options.confirmAbandonMs ?? Math.min(1000, Math.floor(leaseMs / 2))
  const newRunId = options.newRunId ?? (() => `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`)
  const producers = new Set<RunProducer>()

  /** The run's record, after ending it with `apperror` if its producer is gone. */
  async function status(runId: string): Promise<RunRecord | undefined> {
    const record = await log.record(runId)
    if (!record?.abandoned || !(await stillAbandoned(log, runId, record, confirmAbandonMs))) return record
    await log.endRun(runId, ABANDONED_ENTRY, 'abandoned')
    return log.record(runId)
  }

  return {
    log,

    async start(sessionId: string, generate: Generate): Promise<StartResult> {
      const runId = newRunId()
      const owner = `${runId}.${Math.random().toString(36).slice(2, 10)}`
      const create = () => log.create({ runId, sessionId, owner, leaseMs }).catch((error: unknown) => {
        if (error instanceof RunServerError && error.code === 'run_id_taken') return { ok: false as const, runIdTaken: runId }
        throw error
      })
      let created = await create()
      if (!created.ok && 'activeRunId' in created && (await status(created.activeRunId))?.ended) created = await create()
      if (!created.ok) return created
      const producer = new RunProducer(log, { runId, sessionId, owner }, { ...options.producer, leaseMs })
      producers.add(producer)
      void Promise.resolve()
        .then(() => generate(producer))
        .then(
          () => producer.end(),
          (error: unknown) => producer.end('apperror', { message: error instanceof Error ? error.message : String(error) }),
        )
        .finally(() => producers.delete(producer))
      return { ok: true, runId, producer }
    },

    stream(runId: string, afterSeq: number | 'live', format: StreamFormat): ReadableStream<Uint8Array> {
      return runEventStream(log, runId, { afterSeq, format, heartbeatMs, abandonCheckMs, confirmAbandonMs, logTimeoutMs: options.logTimeoutMs, abandonedEntry: ABANDONED_ENTRY })
    },

    async cancel(runId: string): Promise<'cancelled' | 'ended' | 'unknown'> {
      const result = await log.endRun(runId, { event: 'cancel', data: '{}' }, 'running')
      return result.ok ? 'cancelled' : result.reason === 'unknown' ? 'unknown' : 'ended'
    },

    status,

    get producing(): number {
      return producers.size
    },

    async close(): Promise<void> {
      await log.close()
    },
  }
}

