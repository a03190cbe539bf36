/**
 * The server half: a run as a shared log (`memoryRunLog`, `redisRunLog`), the run servers (`createRunServer` for the reference protocol, `createUIMessageServer` for the AI SDK's UI message stream), and `toNodeListener`.
 *
 * @module run-relay/server
 */
export type { AppendResult, CreateResult, CreateRun, LiveBatch, LogEntry, NewEntry, RunLog, RunRecord } from './run-log.ts'
export { FINAL_EVENTS, RunServerError } from './run-log.ts'
export { memoryRunLog, MEMORY_LOG_DEFAULTS, type MemoryRunLogOptions } from './memory-log.ts'
export { redisRunLog, REDIS_LOG_DEFAULTS, type RedisRunLogOptions } from './redis-log.ts'
export { fromIoredis, fromNodeRedis, type AdapterOptions, type IoredisClusterLike, type IoredisLike, type NodeRedisClientLike, type NodeRedisClusterLike, type RedisConnection } from './redis-connection.ts'
export { RunProducer, PRODUCER_DEFAULTS, type ProducerOptions } from './producer.ts'
export { nothingMoreAfter, runEventStream, RUN_STREAM_DEFAULTS, type RunStreamOptions, type StreamFormat } from './run-stream.ts'
export type { SseWriter } from './sse-writer.ts'
export { referenceFormat, uiMessageFormat, UI_CHUNK_EVENT } from './formats.ts'
export { createRunHost, type Generate, type RunHost, type RunHostOptions, type StartResult } from './run-host.ts'
export { createRunServer, cursorOf, RUN_SERVER_DEFAULTS, type RunServerOptions, type StartRequest } from './run-server.ts'
export { createUIMessageServer, type ExecuteRequest, type UIChunk, type UIChunkWriter, type UIMessageServerOptions } from './ui-message-server.ts'
export { toNodeListener, NODE_LISTENER_DEFAULTS, type NodeListenerOptions, type NodeRequestLike, type NodeResponseLike } from './node-adapter.ts'
