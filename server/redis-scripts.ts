/**
 * The Redis log's writes, each one Lua script so its fence and its effects are atomic, and each
 * touching the keys of one cluster slot only. Keys per run, all tagged `{<run>}`: a stream
 * (`…:s`, entry ids `<seq>-0`, derived from the seq, never from a clock), a hash (`…:m`: session,
 * owner, seq, ended, lease) and the live channel. A stream entry is one append's batch (field `c`,
 * written by `encodeBatch`) under the id `<lastSeq>-0`: a catch-up reads a few large entries, not
 * one small entry per event; the live channel carries `<lastSeq>\n<batch>`. The session's pointer to its active run is a key
 * of its own slot (`…session:{<session>}`), with its own small scripts: claim, replace, release, touch.
 * Every run write also publishes the batch on the run's channel (PUBLISH, or SPUBLISH in a cluster),
 * in the same script, so a follower hears of entries in log order and never of one the fence refused.
 * Lease times come from Redis's own `TIME`, so instances need no synchronised clocks.
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** After the end: the run's keys live `retainMs` more (the log then releases the session's pointer). */
const END = `redis.call('HSET', KEYS[2], 'ended', '1')
redis.call('PEXPIRE', KEYS[1], retainMs)
redis.call('PEXPIRE', KEYS[2], retainMs)`

/** While running: the keys outlive the lease by `retainMs`, so a run nobody ends is deleted, never kept for ever. */
const KEEP = `local keep = leaseMs + retainMs
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)`

/** KEYS: session. ARGV: runId, ttlMs. Points the session at the run unless it points at another: {1, ''} or {0, activeRunId}. */
export const CLAIM = `local active = redis.call('GET', KEYS[1])
if active and active ~= ARGV[1] then return {0, active} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ''}`

/** KEYS: session. ARGV: staleRunId, runId, ttlMs. Moves a stale pointer (its run ended or expired) to the run, if it still names the stale one: 1, else 0. */
export const REPLACE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`

/** KEYS: session. ARGV: runId. Frees the session if it still points at the run. */
export const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`

/** KEYS: session. ARGV: runId, ttlMs. Keeps a long run's pointer alive (it expires as the run's keys would). */
export const TOUCH = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`

/** KEYS: stream, meta. ARGV: runId, sessionId, owner, leaseMs, retainMs. Returns 1 (the session was claimed first). */
export const CREATE = `local runId, leaseMs, retainMs = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('ERR run ' .. runId .. ' exists already: give every run a new id') end
${NOW}
redis.call('HSET', KEYS[2], 'session', ARGV[2], 'owner', ARGV[3], 'seq', 0, 'ended', '0', 'lease', now + leaseMs)
${KEEP}
return 1`

/**
 * KEYS: stream, meta. ARGV: runId, owner, expectedSeq, leaseMs, retainMs, final (0/1),
 * channel, payload (the encoded batch), publish command (PUBLISH or SPUBLISH), entry count. Returns {status, lastSeq}.
 */
export const APPEND = `local runId, leaseMs, retainMs = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
local m = redis.call('HMGET', KEYS[2], 'owner', 'seq', 'ended')
if not m[2] then return {'unknown', 0} end
local seq = tonumber(m[2])
if m[3] == '1' then return {'ended', seq} end
if m[1] ~= ARGV[2] or seq ~= tonumber(ARGV[3]) then return {'stale', seq} end
seq = seq + tonumber(ARGV[10])
redis.call('XADD', KEYS[1], seq .. '-0', 'c', ARGV[8])
${NOW}
redis.call('HSET', KEYS[2], 'seq', seq, 'lease', now + leaseMs)
if ARGV[6] == '1' then
${END}
else
${KEEP}
end
redis.call(ARGV[9], ARGV[7], seq .. '\\n' .. ARGV[8])
return {'ok', seq}`

/**
 * KEYS: stream, meta. ARGV: runId, when ('running' | 'abandoned'), retainMs, channel,
 * payload (the final entry, encoded as a batch of one), publish command. Returns {status, lastSeq}.
 */
export const END_RUN = `local runId, retainMs = ARGV[1], tonumber(ARGV[3])
local m = redis.call('HMGET', KEYS[2], 'seq', 'ended', 'lease')
if not m[1] then return {'unknown', 0} end
local seq = tonumber(m[1])
if m[2] == '1' then return {'ended', seq} end
${NOW}
if ARGV[2] == 'abandoned' and tonumber(m[3]) > now then return {'stale', seq} end
seq = seq + 1
redis.call('XADD', KEYS[1], seq .. '-0', 'c', ARGV[5])
redis.call('HSET', KEYS[2], 'seq', seq)
${END}
redis.call(ARGV[6], ARGV[4], seq .. '\\n' .. ARGV[5])
return {'ok', seq}`

/** KEYS: stream, meta. ARGV: runId, owner, leaseMs, retainMs. Returns 1, or 0 when the run ended or is not the owner's. */
export const RENEW = `local runId, leaseMs, retainMs = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local m = redis.call('HMGET', KEYS[2], 'owner', 'ended')
if m[1] ~= ARGV[2] or m[2] ~= '0' then return 0 end
${NOW}
redis.call('HSET', KEYS[2], 'lease', now + leaseMs)
${KEEP}
return 1`

/**
 * KEYS: stream. ARGV: afterSeq, limit. The entries holding seqs afterSeq + 1 to afterSeq + limit:
 * those whose last seq is in that range, and the one after them, which may hold the rest.
 */
export const READ = `local from, to = tonumber(ARGV[1]) + 1, tonumber(ARGV[1]) + tonumber(ARGV[2])
local found = redis.call('XRANGE', KEYS[1], from .. '-0', to .. '-0')
local last = from - 1
if #found > 0 then last = tonumber(string.match(found[#found][1], '^(%d+)')) end
if last < to then
  local more = redis.call('XRANGE', KEYS[1], (last + 1) .. '-0', '+', 'COUNT', 1)
  if #more > 0 then found[#found + 1] = more[1] end
end
return found`

/** KEYS: meta. Returns {session, seq, ended, abandoned} or an empty table for an unknown run. */
export const RECORD = `local m = redis.call('HMGET', KEYS[1], 'session', 'seq', 'ended', 'lease')
if not m[1] then return {} end
${NOW}
local abandoned = 0
if m[3] ~= '1' and tonumber(m[4]) <= now then abandoned = 1 end
return {m[1], tonumber(m[2]), tonumber(m[3]), abandoned}`
