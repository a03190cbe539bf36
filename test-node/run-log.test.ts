import { describe, expect, it } from 'vitest'
import { memoryRunLog } from '../server/memory-log.ts'
import { runLogContract } from './run-log.contract.ts'
import { openIoredisLog, openRedisLog } from './redis-client.ts'

runLogContract('memory', async (options) => memoryRunLog(options))
runLogContract('Redis Streams (node-redis 6, RESP3)', (options) => openRedisLog(options))
runLogContract('Redis Streams (ioredis 6)', (options) => openIoredisLog(options))

describe('memoryRunLog expiry (an injected clock)', () => {
  it('drops a run nobody ends, nor reads, leaseMs + retainMs after its last write, and frees its session', async () => {
    let clock = 1_000_000
    const log = memoryRunLog({ retainMs: 5000, now: () => clock })
    await log.create({ runId: 'dead', sessionId: 's', owner: 'o', leaseMs: 1000 })
    await log.append('dead', { owner: 'o', expectedSeq: 0, leaseMs: 1000 }, [{ event: 'token', data: '{}' }], false)
    clock += 5999
    expect(await log.record('dead')).toMatchObject({ lastSeq: 1, ended: false, abandoned: true })
    expect(await log.activeRun('s')).toBe('dead')
    clock += 1
    expect(await log.record('dead')).toBeUndefined()
    expect(await log.read('dead', 0, 10)).toEqual([])
    expect(await log.activeRun('s')).toBeUndefined()
    expect(await log.create({ runId: 'next', sessionId: 's', owner: 'o', leaseMs: 1000 })).toEqual({ ok: true })
  })

  it('drops an ended run retainMs after its end, by the same clock', async () => {
    let clock = 0
    const log = memoryRunLog({ retainMs: 5000, now: () => clock })
    await log.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 60_000 })
    await log.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 60_000 }, [{ event: 'stream_end', data: '{}' }], true)
    clock += 4999
    expect(await log.read('r', 0, 10)).toHaveLength(1)
    clock += 1
    expect(await log.record('r')).toBeUndefined()
  })
})
