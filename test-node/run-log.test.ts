import { memoryRunLog } from '../server-lib/memory-log.ts'
import { runLogContract } from './run-log.contract.ts'
import { openIoredisLog, openRedisLog } from './redis-client.ts'

runLogContract('memory', async (options) => memoryRunLog(options))
runLogContract('Redis Streams (node-redis 6, RESP3)', (options) => openRedisLog(options))
runLogContract('Redis Streams (ioredis 6)', (options) => openIoredisLog(options))
