import { createClient } from 'redis'
import { createRunHost, fromNodeRedis, redisRunLog, referenceFormat } from '../server/index.ts'
import { redisServerPath, startRedis } from '../test-node/redis-server.ts'
const redis = await startRedis(redisServerPath()!)
const c = createClient({ url: redis.url }); await c.connect()
const c2 = createClient({ url: redis.url }); await c2.connect()
const hostA = createRunHost({ log: redisRunLog({ redis: fromNodeRedis(c), prefix: 'p:' }), heartbeatMs: 60000 })
const hostB = createRunHost({ log: redisRunLog({ redis: fromNodeRedis(c2), prefix: 'p:' }), heartbeatMs: 60000 })
const times: number[] = []
for (let round = 0; round < 30; round++) {
  const r = await hostA.start('s' + round, (run) => { for (let i = 0; i < 10000; i++) run.emit('token', { at: 0, i }) })
  if (!r.ok) throw 1
  while (!(await hostB.log.record(r.runId))?.ended) await new Promise(r => setTimeout(r, 5))
  const t = performance.now()
  const reader = hostB.stream(r.runId, 0, referenceFormat).getReader()
  const dec = new TextDecoder(); let buf = ''; let n = 0
  for (;;) { const { done, value } = await reader.read(); if (done) break; buf += dec.decode(value, { stream: true }); const lines = buf.split('\n'); buf = lines.pop()!; for (const l of lines) if (l.startsWith('data: {')) n++ }
  times.push(performance.now() - t)
}
times.sort((a, b) => a - b); console.log('median', times[15].toFixed(1), 'min', times[0].toFixed(1))
await hostA.close(); await hostB.close(); await c.close(); await c2.close(); await redis.stop(); process.exit(0)
