import type { AppendResult, CreateResult, CreateRun, LiveBatch, LogEntry, NewEntry, RunLog, RunRecord } from './run-log.ts'

export interface MemoryRunLogOptions {
  /** How long an ended run stays readable (late resume, replay). @defaultValue 3_600_000 */
  retainMs?: number
  /** The clock, for tests. @defaultValue Date.now */
  now?: () => number
}

export const MEMORY_LOG_DEFAULTS = { retainMs: 3_600_000 } as const

interface MemoryRun {
  record: Omit<RunRecord, 'abandoned'>
  owner: string
  leaseUntil: number
  entries: LogEntry[]
  followers: Set<(batch: LiveBatch) => void>
}

/**
 * The in-memory `RunLog`: one process, no dependency. The default; what `npm run dev` uses.
 * Everything happens synchronously under the promise surface, so the fences hold trivially.
 */
export function memoryRunLog(options: MemoryRunLogOptions = {}): RunLog {
  const retainMs = options.retainMs ?? MEMORY_LOG_DEFAULTS.retainMs
  const now = options.now ?? Date.now
  const runs = new Map<string, MemoryRun>()
  const active = new Map<string, string>()
  const timers = new Set<ReturnType<typeof setTimeout>>()

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
      if (active.get(run.record.sessionId) === run.record.runId) active.delete(run.record.sessionId)
      const timer = setTimeout(() => {
        timers.delete(timer)
        runs.delete(run.record.runId)
      }, retainMs)
      ;(timer as { unref?: () => void }).unref?.() // a retention timer must not keep a Node process alive
      timers.add(timer)
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
      const current = active.get(sessionId)
      if (current !== undefined) return { ok: false, activeRunId: current }
      if (runs.has(runId)) throw new Error(`run ${runId} exists already: give every run a new id`)
      runs.set(runId, { record: { runId, sessionId, lastSeq: 0, ended: false }, owner, leaseUntil: now() + leaseMs, entries: [], followers: new Set() })
      active.set(sessionId, runId)
      return { ok: true }
    },

    async append(runId, fence, entries, final) {
      const run = runs.get(runId)
      if (!run) return { ok: false, reason: 'unknown', lastSeq: 0 }
      if (run.record.ended) return { ok: false, reason: 'ended', lastSeq: run.record.lastSeq }
      if (run.owner !== fence.owner || run.record.lastSeq !== fence.expectedSeq) return { ok: false, reason: 'stale', lastSeq: run.record.lastSeq }
      run.leaseUntil = now() + fence.leaseMs
      return write(run, entries, final)
    },

    async endRun(runId, entry, when) {
      const run = runs.get(runId)
      if (!run) return { ok: false, reason: 'unknown', lastSeq: 0 }
      if (run.record.ended) return { ok: false, reason: 'ended', lastSeq: run.record.lastSeq }
      if (when === 'abandoned' && !abandoned(run)) return { ok: false, reason: 'stale', lastSeq: run.record.lastSeq }
      return write(run, [entry], true)
    },

    async renew(runId, owner, leaseMs) {
      const run = runs.get(runId)
      if (!run || run.record.ended || run.owner !== owner) return false
      run.leaseUntil = now() + leaseMs
      return true
    },

    async read(runId, afterSeq, limit) {
      const run = runs.get(runId)
      if (!run) return []
      // Entries are numbered from 1 with no gaps, so entry `seq` sits at index `seq - 1`.
      return run.entries.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit)
    },

    async record(runId) {
      const run = runs.get(runId)
      return run ? { ...run.record, abandoned: abandoned(run) } : undefined
    },

    async activeRun(sessionId) {
      return active.get(sessionId)
    },

    async follow(runId, listener) {
      const run = runs.get(runId)
      if (!run) return () => {}
      run.followers.add(listener)
      return () => run.followers.delete(listener)
    },

    async close() {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
    },
  }
}
