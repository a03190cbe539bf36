import type { RedisConnection } from './redis-connection.ts'
import { APPEND, CREATE, END_RUN, RECORD, RENEW } from './redis-scripts.ts'
import { RunServerError, type AppendResult, type LiveBatch, type LogEntry, type RunLog } from './run-log.ts'

export interface RedisRunLogOptions {
  /** The connection (`fromNodeRedis(client)`, `fromIoredis(client)`, or your own). */
  redis: RedisConnection
  /** Prepended to every key and channel. @defaultValue 'run-relay:' */
  prefix?: string
  /** How long an ended run stays readable; an unended run outlives its lease by as much. @defaultValue 3_600_000 */
  retainMs?: number
}

export const REDIS_LOG_DEFAULTS = { prefix: 'run-relay:', retainMs: 3_600_000 } as const

type Script = 'create' | 'append' | 'endRun' | 'renew' | 'record'
const SOURCES: Record<Script, string> = { create: CREATE, append: APPEND, endRun: END_RUN, renew: RENEW, record: RECORD }

/**
 * The Redis Streams `RunLog`: one stream per run, fenced appends in Lua, and live fan-out over
 * one shared subscriber connection per process (a channel per followed run, refcounted), never
 * a blocking connection per reader. Standalone Redis (or one shard): the session key and a run's
 * keys are touched by one script.
 */
export function redisRunLog(options: RedisRunLogOptions): RunLog {
  const { redis } = options
  const prefix = options.prefix ?? REDIS_LOG_DEFAULTS.prefix
  const retainMs = options.retainMs ?? REDIS_LOG_DEFAULTS.retainMs
  const shas = new Map<Script, Promise<string>>()
  const sessions = new Map<string, string>() // runId -> sessionId, for the session key of runs written here
  const channels = new Map<string, { listeners: Set<(batch: LiveBatch) => void>; ready: Promise<void> }>()
  let closed = false

  // `{runId}` is a hash tag: a run's two keys share a cluster slot.
  const streamKey = (runId: string) => `${prefix}{${runId}}:s`
  const metaKey = (runId: string) => `${prefix}{${runId}}:m`
  const sessionKey = (sessionId: string) => `${prefix}session:${sessionId}`
  const channelOf = (runId: string) => `${prefix}live:${runId}`

  /** EVALSHA, loading the script on first use and again after a SCRIPT FLUSH or a failover (NOSCRIPT). */
  async function run(script: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (closed) throw new RunServerError('closed', 'this Redis run log is closed: create a new one')
    const argv = [String(keys.length), ...keys, ...args.map(String)]
    for (let attempt = 0; ; attempt++) {
      let sha = shas.get(script)
      if (!sha) {
        sha = redis.send(['SCRIPT', 'LOAD', SOURCES[script]]).then(String)
        shas.set(script, sha)
      }
      try {
        return await redis.send(['EVALSHA', await sha, ...argv])
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

  const runKeys = (runId: string, sessionId: string) => [streamKey(runId), metaKey(runId), sessionKey(sessionId)]

  function onMessage(runId: string, message: string): void {
    const parsed = JSON.parse(message) as { s: number; e: Array<[string, string]>; f: 0 | 1 }
    const batch: LiveBatch = { entries: parsed.e.map(([event, data], i) => ({ seq: parsed.s + i, event, data })), ended: parsed.f === 1 }
    if (batch.ended) sessions.delete(runId)
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
  function forgetIfOver(runId: string, result: AppendResult, ended: boolean): AppendResult {
    if (ended || (!result.ok && result.reason !== 'stale')) sessions.delete(runId)
    return result
  }

  return {
    async create({ runId, sessionId, owner, leaseMs }) {
      const reply = asArray(await run('create', runKeys(runId, sessionId), [runId, sessionId, owner, leaseMs, retainMs]).catch((error: unknown) => {
        throw String(error).includes('exists already') ? RunServerError.runIdTaken(runId) : error
      }))
      if (Number(reply[0]) !== 1) return { ok: false, activeRunId: String(reply[1]) }
      sessions.set(runId, sessionId)
      return { ok: true }
    },

    async append(runId, fence, entries, final) {
      const sessionId = await sessionOf(runId)
      if (sessionId === undefined) return { ok: false, reason: 'unknown', lastSeq: 0 }
      // The fence fixes the seqs, so the live message can be built here and published only if the fence holds.
      const payload = JSON.stringify({ s: fence.expectedSeq + 1, e: entries.map((entry) => [entry.event, entry.data]), f: final ? 1 : 0 })
      const pairs = entries.flatMap((entry) => [entry.event, entry.data])
      const reply = await run('append', runKeys(runId, sessionId), [runId, fence.owner, fence.expectedSeq, fence.leaseMs, retainMs, final ? 1 : 0, channelOf(runId), payload, ...pairs])
      return forgetIfOver(runId, appendResult(reply), final)
    },

    async endRun(runId, entry, when) {
      const sessionId = await sessionOf(runId)
      if (sessionId === undefined) return { ok: false, reason: 'unknown', lastSeq: 0 }
      const result = appendResult(await run('endRun', runKeys(runId, sessionId), [runId, when, retainMs, channelOf(runId), entry.event, entry.data]))
      return forgetIfOver(runId, result, result.ok)
    },

    async renew(runId, owner, leaseMs) {
      const sessionId = await sessionOf(runId)
      if (sessionId === undefined) return false
      return Number(await run('renew', runKeys(runId, sessionId), [runId, owner, leaseMs, retainMs])) === 1
    },

    async read(runId, afterSeq, limit) {
      const reply = await redis.send(['XRANGE', streamKey(runId), `${afterSeq + 1}-0`, '+', 'COUNT', String(limit)])
      return asArray(reply).map(entryOf)
    },

    record: recordOf,

    async activeRun(sessionId) {
      const reply = await redis.send(['GET', sessionKey(sessionId)])
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

function entryOf(raw: unknown): LogEntry {
  const [id, fields] = asArray(raw)
  const field = (name: string): string => {
    if (Array.isArray(fields)) {
      const at = fields.findIndex((value, i) => i % 2 === 0 && String(value) === name)
      return String(fields[at + 1])
    }
    if (fields instanceof Map) return String(fields.get(name))
    return String((fields as Record<string, unknown>)[name])
  }
  return { seq: Number(String(id).split('-')[0]), event: field('e'), data: field('d') }
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
