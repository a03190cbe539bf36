import type { RedisConnection } from './redis-connection.ts'
import { APPEND, CLAIM, CREATE, END_RUN, READ, RECORD, RELEASE, RENEW, REPLACE, TOUCH } from './redis-scripts.ts'
import { decodeBatch, decodeLiveMessage, encodeBatch } from './redis-batch.ts'
import { RunServerError, type AppendResult, type LiveBatch, type LogEntry, type RunLog } from './run-log.ts'

/** Options of `redisRunLog`. */
export interface RedisRunLogOptions {
  /** The connection (`fromNodeRedis(client)`, `fromIoredis(client)`, or your own). */
  redis: RedisConnection
  /** Prepended to every key and channel. @defaultValue 'run-relay:' */
  prefix?: string
  /** How long an ended run stays readable; an unended run outlives its lease by as much. @defaultValue 3_600_000 */
  retainMs?: number
}

/** The defaults of `RedisRunLogOptions`. */
export const REDIS_LOG_DEFAULTS = {
  /** The default of `RedisRunLogOptions.prefix`. */
  prefix: 'run-relay:',
  /** The default of `RedisRunLogOptions.retainMs`. */
  retainMs: 3_600_000,
} as const

type Script = 'claim' | 'replace' | 'release' | 'touch' | 'create' | 'append' | 'endRun' | 'renew' | 'read' | 'record'
const SOURCES: Record<Script, string> = { claim: CLAIM, replace: REPLACE, release: RELEASE, touch: TOUCH, create: CREATE, append: APPEND, endRun: END_RUN, renew: RENEW, read: READ, record: RECORD }

/**
 * The Redis Streams `RunLog`: one stream per run, fenced appends in Lua, and live fan-out over
 * one shared subscriber connection per process (a channel per followed run, refcounted), never
 * a blocking connection per reader. Cluster-safe: every script touches one slot (a run's keys and
 * channel share the hash tag `{<run>}`; a session's pointer has its own), and in a cluster the
 * live channel is sharded (SPUBLISH / SSUBSCRIBE on the run's shard).
 */
export function redisRunLog(options: RedisRunLogOptions): RunLog {
  const { redis } = options
  const prefix = options.prefix ?? REDIS_LOG_DEFAULTS.prefix
  const retainMs = options.retainMs ?? REDIS_LOG_DEFAULTS.retainMs
  const shas = new Map<Script, Promise<string>>()
  const sessions = new Map<string, string>() // runId -> sessionId, for the session key of runs written here
  const touched = new Map<string, number>() // runId -> when its session pointer's expiry was last pushed back
  const publish = redis.sharded ? 'SPUBLISH' : 'PUBLISH'
  const channels = new Map<string, { listeners: Set<(batch: LiveBatch) => void>; ready: Promise<void> }>()
  let closed = false

  // `{runId}` is a hash tag: a run's keys and its channel share a cluster slot; a session's pointer has its own.
  const streamKey = (runId: string) => `${prefix}{${runId}}:s`
  const metaKey = (runId: string) => `${prefix}{${runId}}:m`
  const channelOf = (runId: string) => `${prefix}{${runId}}:live`
  const sessionKey = (sessionId: string) => `${prefix}session:{${sessionId}}`
  const runKeys = (runId: string) => [streamKey(runId), metaKey(runId)]

  /** EVALSHA, loading the script on first use and again after a SCRIPT FLUSH or a failover (NOSCRIPT). */
  async function run(script: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (closed) throw new RunServerError('closed', 'this Redis run log is closed: create a new one')
    const argv = [String(keys.length), ...keys, ...args.map(String)]
    for (let attempt = 0; ; attempt++) {
      let sha = shas.get(script)
      // In a cluster, scripts are loaded per node: the load goes where the script's key lives (a
      // NOSCRIPT from another node loads it there too; the sha is the same everywhere).
      if (!sha) {
        sha = redis.send(['SCRIPT', 'LOAD', SOURCES[script]], keys[0]).then(String)
        shas.set(script, sha)
      }
      try {
        return await redis.send(['EVALSHA', await sha, ...argv], keys[0])
      } catch (error) {
        shas.delete(script)
        if (attempt > 0 || !String(error).includes('NOSCRIPT')) throw error
      }
    }
  }

  async function sessionOf(runId: string): Promise<string | undefined> {
    return sessions.get(runId) ?? (await recordOf(runId))?.sessionId
  }

  async function recordOf(runId: string) {
    const reply = asArray(await run('record', [metaKey(runId)], []))
    if (reply.length === 0) return undefined
    return { runId, sessionId: String(reply[0]), lastSeq: Number(reply[1]), ended: Number(reply[2]) === 1, abandoned: Number(reply[3]) === 1 }
  }

  /** A run that ended frees its session (best effort: a pointer left behind is repaired by the next claim). */
  async function release(runId: string, sessionId: string | undefined): Promise<void> {
    sessions.delete(runId)
    touched.delete(runId)
    if (sessionId !== undefined) await run('release', [sessionKey(sessionId)], [runId]).catch(() => {})
  }

  /** A run longer than `retainMs` keeps its session pointer: its expiry is pushed back now and then. */
  async function touch(runId: string, leaseMs: number): Promise<void> {
    const sessionId = sessions.get(runId)
    if (sessionId === undefined || Date.now() - (touched.get(runId) ?? 0) < retainMs / 4) return
    touched.set(runId, Date.now())
    await run('touch', [sessionKey(sessionId)], [runId, leaseMs + retainMs]).catch(() => touched.delete(runId))
  }

  function onMessage(runId: string, message: string): void {
    const batch = decodeLiveMessage(message)
    if (batch.ended) {
      sessions.delete(runId)
      touched.delete(runId)
    }
    // A copy: a follower may stop following while it is notified.
    for (const listener of [...(channels.get(runId)?.listeners ?? [])]) {
      try {
        listener(batch)
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  /**
   * A run that ended here (or was found ended, or gone) needs its session no more: the map must
   * not keep an entry per run for ever (the pub/sub end message reaches only a followed run).
   */
  async function forgetIfOver(runId: string, sessionId: string | undefined, result: AppendResult, ended: boolean): Promise<AppendResult> {
    if (ended && result.ok) await release(runId, sessionId)
    else if (ended || (!result.ok && result.reason !== 'stale')) {
      sessions.delete(runId)
      touched.delete(runId)
    }
    return result
  }

  return {
    /**
     * Two steps, each one slot: claim the session, then create the run (a failed create releases
     * the claim). A claim held by a run that has ended or expired is stale: it is moved to the new
     * run only if it still names the stale one, so two starts never both win.
     */
    async create({ runId, sessionId, owner, leaseMs }) {
      const session = sessionKey(sessionId)
      const ttl = leaseMs + retainMs
      for (let attempt = 0; ; attempt++) {
        const reply = asArray(await run('claim', [session], [runId, ttl]))
        if (Number(reply[0]) === 1) break
        const active = String(reply[1])
        const record = await recordOf(active)
        if ((record && !record.ended) || attempt > 0) return { ok: false, activeRunId: active }
        if (Number(await run('replace', [session], [active, runId, ttl])) === 1) break
      }
      try {
        await run('create', runKeys(runId), [runId, sessionId, owner, leaseMs, retainMs])
      } catch (error) {
        await run('release', [session], [runId]).catch(() => {})
        throw String(error).includes('exists already') ? RunServerError.runIdTaken(runId) : error
      }
      sessions.set(runId, sessionId)
      touched.set(runId, Date.now())
      return { ok: true }
    },

    async append(runId, fence, entries, final) {
      // Built here, published only if the fence holds.
      const reply = await run('append', runKeys(runId), [runId, fence.owner, fence.expectedSeq, fence.leaseMs, retainMs, final ? 1 : 0, channelOf(runId), encodeBatch(entries, final), publish, entries.length])
      const result = appendResult(reply)
      if (result.ok && !final) await touch(runId, fence.leaseMs)
      return forgetIfOver(runId, final ? await sessionOf(runId) : undefined, result, final)
    },

    async endRun(runId, entry, when) {
      const result = appendResult(await run('endRun', runKeys(runId), [runId, when, retainMs, channelOf(runId), encodeBatch([entry], true), publish]))
      return forgetIfOver(runId, result.ok ? await sessionOf(runId) : undefined, result, result.ok)
    },

    async renew(runId, owner, leaseMs) {
      const renewed = Number(await run('renew', runKeys(runId), [runId, owner, leaseMs, retainMs])) === 1
      if (renewed) await touch(runId, leaseMs)
      return renewed
    },

    async read(runId, afterSeq, limit) {
      // An entry holds a batch, under its last seq: the first one found may begin at or before afterSeq.
      const reply = asArray(await run('read', [streamKey(runId)], [afterSeq, limit]))
      const entries: LogEntry[] = []
      for (const raw of reply) {
        for (const entry of entriesOf(raw)) if (entry.seq > afterSeq) entries.push(entry)
        if (entries.length >= limit) break
      }
      return entries.length > limit ? entries.slice(0, limit) : entries
    },

    record: recordOf,

    async activeRun(sessionId) {
      const reply = await redis.send(['GET', sessionKey(sessionId)], sessionKey(sessionId))
      return reply === null || reply === undefined ? undefined : String(reply)
    },

    async follow(runId, listener) {
      let channel = channels.get(runId)
      if (!channel) {
        const created = { listeners: new Set<(batch: LiveBatch) => void>(), ready: redis.subscribe(channelOf(runId), (message) => onMessage(runId, message)) }
        channels.set(runId, created)
        // A failed subscribe must not stay cached: the next follower tries again.
        created.ready.catch(() => channels.get(runId) === created && channels.delete(runId))
        channel = created
      }
      channel.listeners.add(listener)
      await channel.ready
      const followed = channel
      return () => {
        if (!followed.listeners.delete(listener) || followed.listeners.size > 0 || channels.get(runId) !== followed) return
        channels.delete(runId)
        // The unsubscribe reaches Redis before any later subscribe to the same channel (one connection, in order).
        if (!closed) redis.unsubscribe(channelOf(runId)).catch(() => {})
      }
    },

    async close() {
      closed = true
      channels.clear()
      await redis.close()
    },
  }
}

/** Arrays of RESP2 and RESP3 alike (node-redis 6 speaks RESP3 by default; a map arrives as an object or a Map). */
function asArray(reply: unknown): unknown[] {
  if (Array.isArray(reply)) return reply
  if (reply === null || reply === undefined) return []
  throw new RunServerError('redis_reply', `unexpected Redis reply ${JSON.stringify(reply)}: is this a Redis 7 server, and does the adapter return raw replies?`)
}

/** A batch in the JSON form written before `encodeBatch`'s (`{s: firstSeq, e: [[event, data], …], f: final}`, field `b`). */
function jsonBatchOf(json: string): LiveBatch {
  const parsed = JSON.parse(json) as { s: number; e: Array<[string, string]>; f: 0 | 1 }
  return { entries: parsed.e.map(([event, data], i) => ({ seq: parsed.s + i, event, data })), ended: parsed.f === 1 }
}

/** A stream entry's events: a batch (`c`; `b` in the JSON form before it), or one event (`e`, `d`: how 0.1.0 before batches wrote them). */
function entriesOf(raw: unknown): LogEntry[] {
  const [id, fields] = asArray(raw)
  const field = (name: string): string | undefined => {
    let value: unknown
    if (Array.isArray(fields)) {
      const at = fields.findIndex((candidate, i) => i % 2 === 0 && String(candidate) === name)
      value = at < 0 ? undefined : fields[at + 1]
    } else if (fields instanceof Map) value = fields.get(name)
    else value = (fields as Record<string, unknown>)[name]
    return value === undefined ? undefined : String(value)
  }
  const lastSeq = Number(String(id).split('-')[0])
  const batch = field('c')
  if (batch !== undefined) return decodeBatch(batch, lastSeq).entries
  const json = field('b')
  if (json !== undefined) return jsonBatchOf(json).entries
  return [{ seq: lastSeq, event: String(field('e')), data: String(field('d')) }]
}

function appendResult(reply: unknown): AppendResult {
  const [status, seq] = asArray(reply)
  const lastSeq = Number(seq)
  switch (String(status)) {
    case 'ok':
      return { ok: true, lastSeq }
    case 'stale':
    case 'ended':
    case 'unknown':
      return { ok: false, reason: String(status) as 'stale' | 'ended' | 'unknown', lastSeq }
    default:
      throw new RunServerError('redis_reply', `unexpected reply ${JSON.stringify(reply)} from the run log's script`)
  }
}
