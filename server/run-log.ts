import { REFERENCE_END_EVENTS } from '../protocol/reference.ts'

/** One event of a run, as stored. `data` is the event's data, verbatim. */
export interface LogEntry {
  /** The entry's number in its run, gapless from 1. */
  seq: number
  /** The SSE event name. */
  event: string
  /** The event's data, verbatim. */
  data: string
}

/** An entry before the log numbers it. */
export interface NewEntry {
  /** The SSE event name. */
  event: string
  /** The event's data, verbatim. */
  data: string
}

/** What the log knows about a run. */
export interface RunRecord {
  /** The run's id. */
  runId: string
  /** The session the run belongs to. */
  sessionId: string
  /** The seq of the last entry; 0 before the first. */
  lastSeq: number
  /** The run has its final entry (the last one): nothing more will be appended. */
  ended: boolean
  /** The owner's lease ran out while the run had not ended: its producer is gone. */
  abandoned: boolean
}

/** What `RunLog.create` did: created the run, or why not. */
export type CreateResult =
  | {
      /** The run was created and is its session's active run. */
      ok: true
    }
  /** The session already has a run that has not ended. */
  | {
      /** Not created. */
      ok: false
      /** The session's active run. */
      activeRunId: string
    }

/** What `RunLog.append` and `RunLog.endRun` did: appended, or why not. */
export type AppendResult =
  | {
      /** The entries were appended. */
      ok: true
      /** The seq of the last entry now. */
      lastSeq: number
    }
  | {
      /** Nothing was appended. */
      ok: false
      /**
       * `stale`: another owner, or not the seq the writer expected (a retry that already landed);
       * `ended`: the run has its final entry (a cancel, an abandon); `unknown`: no such run (expired).
       */
      reason: 'stale' | 'ended' | 'unknown'
      /** The seq of the run's last entry (0 for an unknown run). */
      lastSeq: number
    }

/** Entries appended to a run, as a live follower hears of them (in seq order, contiguous). */
export interface LiveBatch {
  /** The entries, in seq order, contiguous. */
  entries: LogEntry[]
  /** The batch's last entry is the run's final one. */
  ended: boolean
}

/** A run to create (`RunLog.create`). */
export interface CreateRun {
  /** The new run's id. */
  runId: string
  /** The session it belongs to. */
  sessionId: string
  /** Who may append (one token per producer). */
  owner: string
  /** How long the run counts as alive without an append or a renewal. */
  leaseMs: number
}

/**
 * The shared log a run is served from: one ordered, gapless list of entries per run, numbered
 * by `seq` from 1, that every server instance can read. Two backends implement it
 * (`memoryRunLog`, `redisRunLog`) and pass one contract suite (`test-node/run-log.contract.ts`).
 *
 * Writes are fenced: only the run's owner may append, and only at the seq it expects, so a
 * retried or stale writer cannot fork the log. A run ends exactly once: by its owner's final
 * append, by a cancel from anyone (`endRun(..., 'running')`), or, when its owner stopped
 * renewing its lease, by one `apperror` from whichever instance notices first
 * (`endRun(..., 'abandoned')`).
 */
export interface RunLog {
  /** Creates a run and makes it its session's active run, unless the session has one that has not ended. */
  create(run: CreateRun): Promise<CreateResult>
  /**
   * Appends entries at `expectedSeq + 1...` if `owner` owns the run and its last seq is
   * `expectedSeq`; `final` makes the last entry the run's end. Extends the lease by `leaseMs`.
   */
  append(runId: string, fence: { owner: string; expectedSeq: number; leaseMs: number }, entries: NewEntry[], final: boolean): Promise<AppendResult>
  /**
   * Ends a run on no owner's behalf with one final entry: `'running'` if it has not ended (a
   * cancel), `'abandoned'` only if its lease ran out too. Atomic: of many callers, one wins.
   */
  endRun(runId: string, entry: NewEntry, when: 'running' | 'abandoned'): Promise<AppendResult>
  /** Extends the owner's lease; false when the run ended or is not `owner`'s. */
  renew(runId: string, owner: string, leaseMs: number): Promise<boolean>
  /** Up to `limit` entries after `afterSeq`, in order. */
  read(runId: string, afterSeq: number, limit: number): Promise<LogEntry[]>
  /** What the log knows about the run; `undefined` when it holds no such run (never created, or expired). */
  record(runId: string): Promise<RunRecord | undefined>
  /** The session's run that has not ended, if any. */
  activeRun(sessionId: string): Promise<string | undefined>
  /**
   * Hears of every batch appended to the run from now on. Resolves once the follower is in
   * place, so a reader that follows first and reads the log second misses nothing between the
   * two. Returns the function that stops following.
   */
  follow(runId: string, listener: (batch: LiveBatch) => void): Promise<() => void>
  /** Releases connections and timers. */
  close(): Promise<void>
}

/** The event names that end a run in the reference protocol (docs/server.md; the hub's preset `reference`). */
export const FINAL_EVENTS: ReadonlySet<string> = new Set(REFERENCE_END_EVENTS)

/** Misuse of the server API: the message says how to fix the call. */
export class RunServerError extends Error {
  /** The run id a log refused to create twice. */
  static runIdTaken(runId: string): RunServerError {
    return new RunServerError('run_id_taken', `run ${runId} exists already: newRunId must give every run a new id`)
  }

  /** Always `'RunServerError'`. */
  override name = 'RunServerError'
  constructor(
    /** `run_id_taken`: `create` was given the id of a run the log holds (a `newRunId` that repeats itself). */
    readonly code: 'invalid_option' | 'redis_reply' | 'closed' | 'run_ended' | 'run_id_taken',
    message: string,
  ) {
    super(message)
  }
}
