import { createClient } from 'redis'
import { describe, expect, it } from 'vitest'
import { fromIoredis, fromNodeRedis, type IoredisLike, type NodeRedisClientLike } from '../server/redis-connection.ts'
import { redisRunLog } from '../server/redis-log.ts'
import { redisUrl } from './redis-client.ts'

/** The adapters as pure units, over clients that fail on cue (the real clients run in run-log.test.ts). */
describe('fromNodeRedis', () => {
  it('opens the subscriber again after a connect that failed (Redis down at the first follow), not never', async () => {
    let connects = 0
    const subscribed: string[] = []
    const client: NodeRedisClientLike = {
      sendCommand: async () => null,
      connect: async () => undefined,
      subscribe: async () => undefined,
      unsubscribe: async () => undefined,
      duplicate: () => ({
        ...client,
        connect: async () => {
          if (++connects === 1) throw new Error('connect ECONNREFUSED')
        },
        subscribe: async (channel) => void subscribed.push(channel),
      }),
    }
    const redis = fromNodeRedis(client)
    await expect(redis.subscribe('a', () => {})).rejects.toThrow('ECONNREFUSED')
    await redis.subscribe('b', () => {})
    expect(connects).toBe(2)
    expect(subscribed).toEqual(['b'])
    await redis.close()
  })
})

describe('fromNodeRedis with a real client, never connected by the app', () => {
  it('connects it on first use (a module that connects at import breaks next build), once, and the log works', async () => {
    const client = createClient({ url: redisUrl() }).on('error', () => {})
    let connects = 0
    const connect = client.connect.bind(client)
    client.connect = (() => (connects++, connect())) as typeof client.connect
    const log = redisRunLog({ redis: fromNodeRedis(client), prefix: `lazy${Math.random().toString(36).slice(2, 9)}:` })
    expect(client.isOpen).toBe(false)
    await Promise.all([log.record('none-1'), log.record('none-2')]) // two first uses at once: one connect
    expect(client.isOpen).toBe(true)
    expect(connects).toBe(1)
    await log.close()
    await client.close()
  })
})

describe('fromIoredis', () => {
  it("drops a failed channel's listener (no message reaches a follower that never subscribed)", async () => {
    let onMessage: (channel: string, message: string) => void = () => {}
    const client: IoredisLike = {
      call: async () => null,
      duplicate: () => client,
      subscribe: async (channel) => {
        if (channel === 'a') throw new Error('Connection is closed.')
      },
      unsubscribe: async () => undefined,
      on: ((event: string, listener: (channel: string, message: string) => void) => {
        if (event === 'message') onMessage = listener
      }) as IoredisLike['on'],
      quit: async () => undefined,
    }
    const redis = fromIoredis(client)
    const heard: string[] = []
    await expect(redis.subscribe('a', (message) => heard.push(`a:${message}`))).rejects.toThrow('closed')
    await redis.subscribe('b', (message) => heard.push(`b:${message}`))
    onMessage('a', '1')
    onMessage('b', '2')
    expect(heard).toEqual(['b:2'])
  })
})
