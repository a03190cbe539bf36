import { RunServerError, type AppendResult, type CreateResult, type CreateRun, type LiveBatch, type LogEntry, type NewEntry, type RunLog, type RunRecord } from './run-log.ts'

/** Options of `memoryRunLog`. */
export interface MemoryRunLogOptions {
  /**
   * How long an ended run stays readable (late resume, replay); a run nobody ends (its producer
   * died and nobody read it) goes `leaseMs + retainMs` after its last write, as in Redis. @defaultValue 3_600_000
   */
  retainMs?: number
  /** The clock, for tests. @defaultValue Date.now */
  now?: () => number
}

/** The defaults of `MemoryRunLogOptions`. */
export const MEMORY_LOG_DEFAULTS = {
  /** The default of `MemoryRunLogOptions.retainMs`. */
  retainMs: 3_600_000,
} as const

/** How often at most a `create` looks for expired runs (each lookup also drops an expired run it finds). */
const SWEEP_EVERY_MS = 1000

interface MemoryRun {
  record: Omit<RunRecord, 'abandoned'>
  owner: string
  leaseUntil: number
  /** When the run is dropped: `retainMs` after its end, or after its lease ran out. */
  expiresAt: number
  entries: LogEntry[]
  followers: Set<(batch: LiveBatch) => void>
}

/**
 * The in-memory `RunLog`: one process, no dependency. The default; what the dev chat server
 * (server/: `npm run dev`, and `npm run serve` without `--redis`) keeps its runs in.
 * Everything happens synchronously under the promise surface, so the fences hold trivially.
 * Expiry is by the clock, checked on every lookup and swept on `create`, so no timer is needed
 * and a run that is never ended, nor read, is dropped all the same.
 */
export function memoryRunLog(options: MemoryRunLogOptions = {}): RunLog {
  const retainMs = options.retainMs ?? MEMORY_LOG_DEFAULTS.retainMs
  const now = options.now ?? Date.now
  const runs = new Map<string, MemoryRun>()
  const active = new Map<string, string>()
  let nextSweep = 0

  /** The run, unless it expired (then it is dropped, with its session's claim). */
  function get(runId: string): MemoryRun | undefined {
    const run = runs.get(runId)
    if (!run || run.expiresAt > now()) return run
    drop(run)
    return undefined
  }

  function drop(run: MemoryRun): void {
    runs.delete(run.record.runId)
    if (active.get(run.record.sessionId) === run.record.runId) active.delete(run.record.sessionId)
  }

  function sweep(): void {
    if (now() < nextSweep) return
    nextSweep = now() + SWEEP_EVERY_MS
    for (const run of runs.values()) if (run.expiresAt <= now()) drop(run)
  }

  function lease(run: MemoryRun, leaseMs: number): void {
    run.leaseUntil = now() + leaseMs
    run.expiresAt = run.leaseUntil + retainMs
  }

  function abandoned(run: MemoryRun): boolean {
    return !run.record.ended && run.leaseUntil <= now()
  }

  function write(run: MemoryRun, entries: NewEntry[], final: boolean): AppendResult {
    const start = run.record.lastSeq
    const written = entries.map((entry, i) => ({ seq: start + i + 1, event: entry.event, data: entry.data }))
    run.entries.push(...written)
    run.record.lastSeq = start + written.length
    if (final) {
      run.record.ended = true
      run.expiresAt = now() + retainMs
      if (active.get(run.record.sessionId) === run.record.runId) active.delete(run.record.sessionId)
    }
    const batch: LiveBatch = { entries: written, ended: final }
    // A copy: a follower may stop following while it is notified.
    for (const listener of [...run.followers]) {
      try {
        listener(batch)
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
    return { ok: true, lastSeq: run.record.lastSeq }
  }

  return {
    async create({ runId, sessionId, owner, leaseMs }: CreateRun): Promise<CreateResult> {
      sweep()
      const current = active.get(sessionId)
      if (current !== undefined && get(current)) return { ok: false, activeRunId: current }
      if (get(runId)) throw RunServerError.runIdTaken(runId)
      const run: MemoryRun = { record: { runId, sessionId, lastSeq: 0, ended: false }, owner, leaseUntil: 0, expiresAt: 0, entries: [], followers: new Set() }
      lease(run, leaseMs)
      runs.set(runId, run)
      active.set(sessionId, runId)
      return { ok: true }
    },

    async append(runId, fence, entries, final) {
      const run = get(runId)
      if (!run) return { ok: false, reason: 'unknown', lastSeq: 0 }
      if (run.record.ended) return { ok: false, reason: 'ended', lastSeq: run.record.lastSeq }
      if (run.owner !== fence.owner || run.record.lastSeq !== fence.expectedSeq) return { ok: false, reason: 'stale', lastSeq: run.record.lastSeq }
      lease(run, fence.leaseMs)
      return write(run, entries, final)
    },

    async endRun(runId, entry, when) {
      const run = get(runId)
      if (!run) return { ok: false, reason: 'unknown', lastSeq: 0 }
      if (run.record.ended) return { ok: false, reason: 'ended', lastSeq: run.record.lastSeq }
      if (when === 'abandoned' && !abandoned(run)) return { ok: false, reason: 'stale', lastSeq: run.record.lastSeq }
      return write(run, [entry], true)
    },

    async renew(runId, owner, leaseMs) {
      const run = get(runId)
      if (!run || run.record.ended || run.owner !== owner) return false
      lease(run, leaseMs)
      return true
    },

    async read(runId, afterSeq, limit) {
      const run = get(runId)
      if (!run) return []
      // Entries are numbered from 1 with no gaps, so entry `seq` sits at index `seq - 1`.
      return run.entries.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit)
    },

    async record(runId) {
      const run = get(runId)
      return run ? { ...run.record, abandoned: abandoned(run) } : undefined
    },

    async activeRun(sessionId) {
      const runId = active.get(sessionId)
      return runId !== undefined && get(runId) ? runId : undefined
    },

    async follow(runId, listener) {
      const run = get(runId)
      if (!run) return () => {}
      run.followers.add(listener)
      return () => run.followers.delete(listener)
    },

    async close() {
      // No timers or connections: expiry is by the clock.
    },
  }
}
